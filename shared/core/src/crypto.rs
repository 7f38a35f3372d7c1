//! Encryption at rest (AES-256-GCM). API key secrets and callback tokens must be recoverable, so they are
//! encrypted rather than hashed; personalisation and inbound text are personal data.
//!
//! `SECRET_KEY` may hold several keys, comma-separated, for rotation: values are sealed with the first and opened
//! with any. A sealed value is `<key id>.<base64>`, the key id naming the key that sealed it, so `notify secrets
//! re-encrypt` can skip values already under the first key. Values written before key ids (bare base64, which has
//! no `.`) are still read: every key is tried.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use sha2::{Digest, Sha256};

const NONCE_LEN: usize = 12;
const KEY_ID_SEPARATOR: char = '.';

/// The plain text of the database's key check (`secret_key_check`): sealed with the first key when absent,
/// opened at start-up so that a wrong `SECRET_KEY` stops a process before it answers anything.
pub const KEY_CHECK_PLAIN: &str = "notify-secret-key-check";

#[derive(Clone)]
struct SealingKey {
    /// Hex of the first 4 bytes of SHA-256 of the AES key: names the key without revealing it.
    id: String,
    cipher: Aes256Gcm,
}

#[derive(Clone)]
pub struct Encryptor {
    /// Never empty; the first seals.
    keys: Vec<SealingKey>,
}

#[derive(Debug, thiserror::Error)]
#[error("could not decrypt a stored value: wrong SECRET_KEY or corrupted data")]
pub struct DecryptError;

impl Encryptor {
    /// `secret_key` is one key or several, comma-separated (surrounding spaces ignored). Any length of key works:
    /// the AES key is its SHA-256.
    pub fn new(secret_key: &str) -> Self {
        let mut keys: Vec<SealingKey> = secret_key
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(SealingKey::new)
            .collect();
        if keys.is_empty() {
            // An empty SECRET_KEY cannot be loaded (`notify_config::SecretKey`); tests and tools still get a key.
            keys.push(SealingKey::new(secret_key));
        }
        Encryptor { keys }
    }

    /// Same as [`Encryptor::new`]: the keys of a `SECRET_KEY` value.
    pub fn parse(secret_key: &str) -> Self {
        Encryptor::new(secret_key)
    }

    /// The id that prefixes values sealed with the first key.
    pub fn current_key_id(&self) -> &str {
        &self.keys[0].id
    }

    /// How many keys `SECRET_KEY` holds.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    pub fn encrypt(&self, plain: &str) -> String {
        let key = &self.keys[0];
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = key
            .cipher
            .encrypt(&nonce, plain.as_bytes())
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!(
            "{}{KEY_ID_SEPARATOR}{}",
            key.id,
            STANDARD_NO_PAD.encode(out)
        )
    }

    pub fn decrypt(&self, stored: &str) -> Result<String, DecryptError> {
        match stored.split_once(KEY_ID_SEPARATOR) {
            Some((id, body)) => self
                .keys
                .iter()
                .find(|k| k.id == id)
                .ok_or(DecryptError)?
                .open(body),
            // Written before key ids: whichever key opens it.
            None => self
                .keys
                .iter()
                .find_map(|k| k.open(stored).ok())
                .ok_or(DecryptError),
        }
    }

    /// Whether `stored` is already sealed with the first key (so re-encryption can leave it alone).
    pub fn is_current(&self, stored: &str) -> bool {
        stored
            .split_once(KEY_ID_SEPARATOR)
            .is_some_and(|(id, _)| id == self.keys[0].id)
    }

    /// `stored` sealed again with the first key, or `None` when it already is.
    pub fn reencrypt(&self, stored: &str) -> Result<Option<String>, DecryptError> {
        if self.is_current(stored) {
            return Ok(None);
        }
        Ok(Some(self.encrypt(&self.decrypt(stored)?)))
    }

    /// Whether `stored` is the key check, opened by one of these keys.
    pub fn opens_key_check(&self, stored: &str) -> bool {
        self.decrypt(stored)
            .is_ok_and(|plain| plain == KEY_CHECK_PLAIN)
    }
}

impl SealingKey {
    fn new(secret: &str) -> Self {
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let id = Sha256::digest(digest)[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        SealingKey {
            id,
            cipher: Aes256Gcm::new(&Key::<Aes256Gcm>::from(digest)),
        }
    }

    fn open(&self, body: &str) -> Result<String, DecryptError> {
        let raw = STANDARD_NO_PAD.decode(body).map_err(|_| DecryptError)?;
        if raw.len() < NONCE_LEN {
            return Err(DecryptError);
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(
                &Nonce::from(<[u8; NONCE_LEN]>::try_from(nonce).map_err(|_| DecryptError)?),
                sealed,
            )
            .map_err(|_| DecryptError)?;
        String::from_utf8(plain).map_err(|_| DecryptError)
    }
}

impl std::fmt::Debug for Encryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Encryptor(..)")
    }
}

/// A stored value that none of the keys opens: logged by ids only (never the value) and counted, so one bad row
/// fails only its own item.
pub fn report_undecryptable(
    column: &str,
    row_id: &dyn std::fmt::Display,
    service_id: &dyn std::fmt::Display,
) {
    tracing::error!(
        column,
        row_id = %row_id,
        service_id = %service_id,
        "SECRET_KEY does not decrypt this stored value: item skipped"
    );
    crate::metrics::count("UndecryptableValues", 1, &[("Column", column)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_never_stores_plain_text() {
        let e = Encryptor::new("k");
        let sealed = e.encrypt("3d844edf-8d35-48ac-975b-e847b4f122b0");
        assert!(!sealed.contains("3d844edf"));
        assert_eq!(
            e.decrypt(&sealed).unwrap(),
            "3d844edf-8d35-48ac-975b-e847b4f122b0"
        );
        assert_ne!(
            sealed,
            e.encrypt("3d844edf-8d35-48ac-975b-e847b4f122b0"),
            "nonces differ"
        );
    }

    #[test]
    fn another_key_cannot_decrypt() {
        let sealed = Encryptor::new("a").encrypt("secret");
        assert!(Encryptor::new("b").decrypt(&sealed).is_err());
    }

    /// What the previous format wrote: bare base64 of nonce and ciphertext under SHA-256 of the key.
    fn legacy_seal(secret: &str, plain: &str) -> String {
        let body = Encryptor::new(secret).encrypt(plain);
        let (_, b64) = body.split_once('.').unwrap();
        b64.to_string()
    }

    #[test]
    fn seals_with_the_first_key_and_opens_with_any() {
        let old = Encryptor::new("old");
        let both = Encryptor::new("new, old");
        let under_old = old.encrypt("token");
        assert_eq!(both.decrypt(&under_old).unwrap(), "token");
        let under_new = both.encrypt("token");
        assert!(both.is_current(&under_new));
        assert!(!both.is_current(&under_old));
        assert!(old.decrypt(&under_new).is_err());
        assert_eq!(Encryptor::new("new").decrypt(&under_new).unwrap(), "token");
    }

    #[test]
    fn values_without_a_key_id_are_still_read_and_re_encrypted() {
        let legacy = legacy_seal("old", "personalisation");
        assert!(!legacy.contains('.'));
        let both = Encryptor::new("new,old");
        assert_eq!(both.decrypt(&legacy).unwrap(), "personalisation");
        let rewritten = both.reencrypt(&legacy).unwrap().expect("rewritten");
        assert!(both.is_current(&rewritten));
        assert_eq!(
            Encryptor::new("new").decrypt(&rewritten).unwrap(),
            "personalisation"
        );
        assert_eq!(both.reencrypt(&rewritten).unwrap(), None);
        assert!(Encryptor::new("other").reencrypt(&legacy).is_err());
    }

    #[test]
    fn key_check_opens_only_with_a_key_that_sealed_it() {
        let check = Encryptor::new("a").encrypt(KEY_CHECK_PLAIN);
        assert!(Encryptor::new("b,a").opens_key_check(&check));
        assert!(!Encryptor::new("b").opens_key_check(&check));
        assert!(!Encryptor::new("a").opens_key_check(&Encryptor::new("a").encrypt("other")));
    }
}
