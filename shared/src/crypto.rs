//! Encryption at rest (AES-256-GCM). API key secrets and callback tokens must be recoverable, so they are
//! encrypted rather than hashed; personalisation and inbound text are personal data.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use sha2::{Digest, Sha256};

const NONCE_LEN: usize = 12;

#[derive(Clone)]
pub struct Encryptor {
    cipher: Aes256Gcm,
}

#[derive(Debug, thiserror::Error)]
#[error("could not decrypt a stored value: wrong SECRET_KEY or corrupted data")]
pub struct DecryptError;

impl Encryptor {
    /// Any length of secret works: the AES key is its SHA-256.
    pub fn new(secret_key: &str) -> Self {
        let digest = Sha256::digest(secret_key.as_bytes());
        Encryptor {
            cipher: Aes256Gcm::new(&Key::<Aes256Gcm>::from(<[u8; 32]>::from(digest))),
        }
    }

    pub fn encrypt(&self, plain: &str) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(&nonce, plain.as_bytes())
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        STANDARD_NO_PAD.encode(out)
    }

    pub fn decrypt(&self, stored: &str) -> Result<String, DecryptError> {
        let raw = STANDARD_NO_PAD.decode(stored).map_err(|_| DecryptError)?;
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
}
