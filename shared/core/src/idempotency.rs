//! The `Idempotency-Key` request header (IETF draft-ietf-httpapi-idempotency-key-header): its value, the
//! fingerprint a repeated request is compared by, and the answers the draft describes, in the v2 envelope.

use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::errors::V2Error;

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// The response header on a replayed answer.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// A key's longest value, in characters.
pub const MAX_LENGTH: usize = 255;
/// How long a key and its response are remembered.
pub const RETENTION: chrono::TimeDelta = chrono::TimeDelta::hours(24);
/// How long a request in flight holds its key before another request may take it over: well above the longest a
/// request can run (the API function's 10 s timeout; API Gateway answers 503 after 30 s), so only a request that
/// died loses its key this way, and one that is merely slow finds its claim gone and creates nothing.
pub const LEASE: Duration = Duration::from_secs(60);

/// A key as the client sent it: 1 to 255 printable ASCII characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The header's value: the draft makes it a Structured Field String (`"…"`, with `\"` and `\\` escapes),
    /// and clients often send the bare value; both are taken, and mean the same key. (The `sfv` crate would read
    /// only the quoted form: a bare UUID is neither a String nor a Token there.)
    pub fn parse(raw: &[u8]) -> Result<Self, V2Error> {
        let invalid = || {
            V2Error::bad_request(format!(
                "Idempotency-Key must be a string of 1 to {MAX_LENGTH} printable ASCII characters, \
                 optionally in double quotes"
            ))
        };
        let text = std::str::from_utf8(raw)
            .map_err(|_| invalid())?
            .trim_matches([' ', '\t']);
        let printable = |c: char| (' '..='~').contains(&c);
        let value = match text.strip_prefix('"') {
            Some(rest) => {
                let mut value = String::with_capacity(rest.len());
                let mut chars = rest.chars();
                loop {
                    match chars.next() {
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => value.push(c),
                            _ => return Err(invalid()),
                        },
                        Some('"') => break,
                        Some(c) if printable(c) => value.push(c),
                        _ => return Err(invalid()),
                    }
                }
                if chars.next().is_some() {
                    return Err(invalid());
                }
                value
            }
            None => {
                if !text.chars().all(printable) {
                    return Err(invalid());
                }
                text.to_string()
            }
        };
        if value.is_empty() || value.chars().count() > MAX_LENGTH {
            return Err(invalid());
        }
        Ok(IdempotencyKey(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a repeat is compared by: SHA-256 of the operation (`POST /v2/notifications/sms`) and the body. A JSON
/// body (`json`: the body as the endpoint read it, so it is parsed once) is taken canonically (keys sorted, no
/// insignificant whitespace), so a client that re-serialises the same request is not told it sent another;
/// anything else (which the pipeline refuses anyway) by its `raw` bytes. The canonical form is written straight
/// into the hash: a stored fingerprint must stay what it was, and building the text first cost as much as the
/// hash.
pub fn fingerprint(operation: &str, raw: &[u8], json: Option<&Value>) -> [u8; 32] {
    let mut hash = HashWriter(Sha256::new());
    hash.0.update(operation.as_bytes());
    hash.0.update([0]);
    match json {
        Some(value) => write_canonical(value, &mut hash),
        None => hash.0.update(raw),
    }
    hash.0.finalize().into()
}

struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// JSON with object keys in sorted order, whatever order serde_json's map keeps; strings and numbers as
/// serde_json writes them.
fn write_canonical(value: &Value, out: &mut HashWriter) {
    // Writing into a hash cannot fail, nor can serialising a `Value` (its keys are strings).
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.0.update(b"{");
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.0.update(b",");
                }
                let _ = serde_json::to_writer(&mut *out, k);
                out.0.update(b":");
                write_canonical(v, out);
            }
            out.0.update(b"}");
        }
        Value::Array(items) => {
            out.0.update(b"[");
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.0.update(b",");
                }
                write_canonical(v, out);
            }
            out.0.update(b"]");
        }
        other => {
            let _ = serde_json::to_writer(out, other);
        }
    }
}

/// The draft's "Idempotency-Key is already used": the key came with a different request.
pub fn reused() -> V2Error {
    V2Error::new(
        422,
        "IdempotencyKeyReusedError",
        "Idempotency-Key is already used: it was sent with a different request in the last 24 hours. \
         A key must not be reused across different requests",
    )
}

/// The draft's "A request is outstanding for this Idempotency-Key": the first request is still being processed.
pub fn outstanding() -> V2Error {
    V2Error::new(
        409,
        "ConflictError",
        "A request is outstanding for this Idempotency-Key: a request with the same key is still being \
         processed. Try again shortly",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(raw: &str) -> Result<String, String> {
        IdempotencyKey::parse(raw.as_bytes())
            .map(|k| k.as_str().to_string())
            .map_err(|e| e.messages[0].clone())
    }

    #[test]
    fn quoted_and_bare_values_are_the_same_key() {
        let id = "8e03978e-40d5-43e8-bc93-6894a57f9324";
        assert_eq!(key(id).unwrap(), id);
        assert_eq!(key(&format!("\"{id}\"")).unwrap(), id);
        assert_eq!(key(&format!("  \"{id}\" ")).unwrap(), id);
        assert_eq!(key(r#""a \"b\" \\ c""#).unwrap(), r#"a "b" \ c"#);
        assert_eq!(key("a b").unwrap(), "a b");
        assert_eq!(key(&"x".repeat(255)).unwrap().len(), 255);
        assert_eq!(key(&format!("\"{}\"", "x".repeat(255))).unwrap().len(), 255);
    }

    #[test]
    fn malformed_values_are_refused() {
        for raw in [
            "",
            "\"\"",
            "   ",
            "\"open",
            "\"a\"b",
            r#""a\x""#,
            "é",
            "tab\there",
            &"x".repeat(256),
            &format!("\"{}\"", "x".repeat(256)),
        ] {
            assert_eq!(
                key(raw).unwrap_err(),
                "Idempotency-Key must be a string of 1 to 255 printable ASCII characters, optionally in double quotes",
                "{raw:?}"
            );
        }
    }

    /// The fingerprint of a body as the endpoints read it.
    fn fingerprint_of(operation: &str, body: &[u8]) -> [u8; 32] {
        let json = serde_json::from_slice::<Value>(body).ok();
        fingerprint(operation, body, json.as_ref())
    }

    /// Fingerprints are stored for a day, so a new release must compute the ones an older one stored: SHA-256 of
    /// `operation NUL canonical-json`, here for a body whose keys come out of order and with a non-ASCII string
    /// (the digest from Python: `hashlib.sha256(b"POST /v2/notifications/sms\0" + json.dumps(body,
    /// sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())`).
    #[test]
    fn fingerprint_is_the_hash_of_the_canonical_body() {
        let body = r#"{"template_id": "f33517ff", "phone_number": "07700900123",
            "personalisation": {"name": "Zoë \"Z\"", "code": 123456, "list": [true, null, 1.5]}}"#;
        let hex: String = fingerprint_of("POST /v2/notifications/sms", body.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "283d074a25ef863a6bb2c010fbd19edea58b6db82cd2723006ab666433ab6b28"
        );
    }

    #[test]
    fn fingerprint_ignores_serialisation_not_content() {
        let a = fingerprint_of(
            "POST /v2/notifications/sms",
            br#"{"a": 1, "b": {"y": [1, 2], "x": null}}"#,
        );
        let b = fingerprint_of(
            "POST /v2/notifications/sms",
            br#"{"b":{"x":null,"y":[1,2]},"a":1}"#,
        );
        assert_eq!(a, b);
        assert_ne!(
            a,
            fingerprint_of(
                "POST /v2/notifications/email",
                br#"{"a":1,"b":{"x":null,"y":[1,2]}}"#
            )
        );
        assert_ne!(
            a,
            fingerprint_of(
                "POST /v2/notifications/sms",
                br#"{"a":1,"b":{"x":null,"y":[2,1]}}"#
            )
        );
        assert_ne!(
            a,
            fingerprint_of(
                "POST /v2/notifications/sms",
                br#"{"a":"1","b":{"x":null,"y":[1,2]}}"#
            )
        );
        assert_ne!(
            fingerprint_of("p", b"not json"),
            fingerprint_of("p", b"not  json")
        );
    }
}
