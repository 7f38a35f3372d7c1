//! Files sent by email (Notify's document download): which files may be sent, in document-download-api's words;
//! how each is sealed under a key of its own that is never stored (it travels only in the recipient's link);
//! and what the database keeps instead of the key and the address: keyed hashes that only the link can check.

use std::fmt;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::alphabet;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

/// document-download-api's `MAX_DECODED_FILE_SIZE`: 2 MiB, and 1 KiB of leeway, after base64 decoding.
pub const MAX_DECODED_FILE_SIZE: usize = 2 * 1024 * 1024 + 1024;
/// document-download-api's `MAX_CUSTOM_FILENAME_LENGTH`.
pub const MAX_FILENAME_LENGTH: usize = 100;
/// Notify's `DEFAULT_DOCUMENT_DOWNLOAD_RETENTION_PERIOD`, `26 weeks`; the validator allows 1 to 78.
pub const DEFAULT_RETENTION_WEEKS: u32 = 26;
pub const MAX_RETENTION_WEEKS: u32 = 78;

/// The file types Notify lets a service send (notifications-utils `file_types`): extension, MIME type and the
/// name the download page gives it. `rtf` has two MIME types; a `.rtf` filename means the second.
pub const FILE_TYPES: &[(&str, &str, &str)] = &[
    ("pdf", "application/pdf", "PDF"),
    ("csv", "text/csv", "CSV file"),
    ("txt", "text/plain", "text file"),
    ("json", "application/json", "JSON file"),
    ("doc", "application/msword", "Microsoft Word document"),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "Microsoft Word document",
    ),
    (
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "Microsoft Excel spreadsheet",
    ),
    (
        "odt",
        "application/vnd.oasis.opendocument.text",
        "text file",
    ),
    ("rtf", "text/rtf", "text file"),
    ("rtf", "application/rtf", "RTF file"),
    ("jpg", "image/jpeg", "JPEG file"),
    ("jpeg", "image/jpeg", "JPEG file"),
    ("png", "image/png", "PNG file"),
];

/// `'.csv', '.doc', …`: the sorted extensions, as document-download-api lists them in its errors.
fn supported_types() -> String {
    let mut extensions: Vec<&str> = FILE_TYPES.iter().map(|(ext, _, _)| *ext).collect();
    extensions.sort_unstable();
    extensions.dedup();
    extensions
        .iter()
        .map(|ext| format!("'.{ext}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The MIME type a filename's extension means (the last entry wins, as upstream's dictionary does).
pub fn mime_type_for_extension(extension: &str) -> Option<&'static str> {
    let extension = extension.to_lowercase();
    FILE_TYPES
        .iter()
        .rev()
        .find(|(ext, _, _)| *ext == extension)
        .map(|(_, mime, _)| *mime)
}

/// The extension a stored MIME type is given when the sender named no file.
pub fn extension_for_mime_type(mime_type: &str) -> Option<&'static str> {
    FILE_TYPES
        .iter()
        .rev()
        .find(|(_, mime, _)| *mime == mime_type)
        .map(|(ext, _, _)| *ext)
}

/// "PDF", "CSV file": what the download page calls a file of this extension.
pub fn pretty_file_type(extension: &str) -> &'static str {
    let extension = extension.to_lowercase();
    FILE_TYPES
        .iter()
        .find(|(ext, _, _)| *ext == extension)
        .map(|(_, _, pretty)| *pretty)
        .unwrap_or("file")
}

pub fn is_allowed_mime_type(mime_type: &str) -> bool {
    FILE_TYPES.iter().any(|(_, mime, _)| *mime == mime_type)
}

/// The extension of `filename`: what follows its last dot.
pub fn extension_of(filename: &str) -> Option<&str> {
    filename.rsplit_once('.').map(|(_, ext)| ext)
}

/// Why document-download-api refuses a file, in its words; Notify answers each with a 400 `BadRequestError`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("Document is not base64 encoded")]
    NotBase64,
    #[error("`filename` cannot be longer than {MAX_FILENAME_LENGTH} characters")]
    FilenameTooLong,
    #[error("`filename` must end with a file extension. For example, filename.csv")]
    NoExtension,
    #[error("Unsupported file type '.{0}'. Supported types are: {types}", types = supported_types())]
    UnsupportedExtension(String),
    /// document-download-api's 413, which Notify passes on as a 400.
    #[error("Uploaded file exceeds file size limit")]
    TooLarge,
    #[error("Document must not be empty")]
    Empty,
    #[error("File did not pass the virus scan")]
    Virus,
    #[error("Unsupported file type '{0}'. Supported types are: {types}", types = supported_types())]
    UnsupportedType(String),
}

/// Python's `b64decode` as document-download-api calls it: padding may be missing or present, whitespace is
/// ignored; anything else that is not base64 is refused.
pub fn decode_file(base64: &str) -> Result<Vec<u8>, DocumentError> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    let compact: String = base64.chars().filter(|c| !c.is_whitespace()).collect();
    LENIENT
        .decode(compact)
        .map_err(|_| DocumentError::NotBase64)
}

/// document-download-api's `validate_filename`.
pub fn check_filename(filename: &str) -> Result<(), DocumentError> {
    if filename.chars().count() > MAX_FILENAME_LENGTH {
        return Err(DocumentError::FilenameTooLong);
    }
    let Some(extension) = extension_of(filename) else {
        return Err(DocumentError::NoExtension);
    };
    if mime_type_for_extension(extension).is_none() {
        return Err(DocumentError::UnsupportedExtension(
            extension.to_lowercase(),
        ));
    }
    Ok(())
}

/// The size rules, after decoding: at most [`MAX_DECODED_FILE_SIZE`], and not empty.
pub fn check_size(bytes: &[u8]) -> Result<(), DocumentError> {
    if bytes.len() > MAX_DECODED_FILE_SIZE {
        return Err(DocumentError::TooLarge);
    }
    if bytes.is_empty() {
        return Err(DocumentError::Empty);
    }
    Ok(())
}

/// The type of a file from its content, as libmagic tells document-download-api: binary formats by their
/// signatures (`infer`), then text: JSON, CSV (rows of the same number of comma-separated fields) or plain text.
pub fn detect_mime_type(bytes: &[u8]) -> String {
    if let Some(kind) = infer::get(bytes) {
        return match kind.mime_type() {
            // Office files are zips; infer names the OOXML and ODF ones, anything else is just a zip.
            "application/zip" => "application/zip".into(),
            other => other.into(),
        };
    }
    let Some(text) = as_text(bytes) else {
        return "application/octet-stream".into();
    };
    let trimmed = text.trim();
    if (trimmed.starts_with('{') || trimmed.starts_with('['))
        && serde_json::from_str::<serde_json::Value>(trimmed).is_ok()
    {
        return "application/json".into();
    }
    if looks_like_csv(&text) {
        return "text/csv".into();
    }
    "text/plain".into()
}

/// Text if it is UTF-8 (a BOM allowed) or Latin-1 without control characters other than whitespace.
fn as_text(bytes: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let printable = |c: char| !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\x0c');
    if let Ok(text) = std::str::from_utf8(bytes) {
        return text.chars().all(printable).then_some(text.into());
    }
    let latin1: String = bytes.iter().map(|&b| char::from(b)).collect();
    latin1.chars().all(printable).then_some(latin1.into())
}

/// At least two rows, each of the same number (two or more) of fields.
fn looks_like_csv(text: &str) -> bool {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut fields = None;
    let mut rows = 0;
    for record in reader.records().take(100) {
        let Ok(record) = record else {
            return false;
        };
        if record.len() == 1 && record.get(0).is_some_and(str::is_empty) {
            continue;
        }
        match fields {
            None if record.len() >= 2 => fields = Some(record.len()),
            Some(n) if n == record.len() => {}
            _ => return false,
        }
        rows += 1;
    }
    rows >= 2
}

/// The type a document is stored and served as (document-download-api's `_mimetype`): with a filename, the type
/// its extension means, the content's own type only checked to be one Notify allows; without one, the content's
/// type (a text file sent as `is_csv` is a CSV).
pub fn document_mime_type(
    bytes: &[u8],
    filename: Option<&str>,
    is_csv: bool,
) -> Result<&'static str, DocumentError> {
    let detected = detect_mime_type(bytes);
    let allowed = |mime: &str| {
        FILE_TYPES
            .iter()
            .find(|(_, m, _)| *m == mime)
            .map(|(_, m, _)| *m)
            .ok_or_else(|| DocumentError::UnsupportedType(mime.to_string()))
    };
    match filename
        .and_then(extension_of)
        .and_then(mime_type_for_extension)
    {
        Some(named) => {
            if detected != named {
                allowed(&detected)?;
            }
            Ok(named)
        }
        None if is_csv && detected == "text/plain" => Ok("text/csv"),
        None => allowed(&detected),
    }
}

/// The key one document is sealed with: 32 random bytes, made for that document and never stored.
#[derive(Clone)]
pub struct DocumentKey([u8; 32]);

impl fmt::Debug for DocumentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DocumentKey(..)")
    }
}

const NONCE_LEN: usize = 12;

type HmacSha256 = Hmac<Sha256>;

impl DocumentKey {
    pub fn generate() -> Self {
        DocumentKey(Aes256Gcm::generate_key(OsRng).into())
    }

    /// As the link carries it: base64url without padding.
    pub fn to_link_form(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// From a link's `key`: base64url, padded or not (upstream's links are padded); anything else is no key.
    pub fn from_link_form(text: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()?;
        Some(DocumentKey(bytes.try_into().ok()?))
    }

    /// The document bound to where it lives, so that a sealed file cannot be served under another id.
    fn associated_data(service_id: Uuid, document_id: Uuid) -> Vec<u8> {
        [
            service_id.as_bytes().as_slice(),
            document_id.as_bytes().as_slice(),
        ]
        .concat()
    }

    /// AES-256-GCM: a random nonce, then the ciphertext and its tag.
    pub fn seal(&self, service_id: Uuid, document_id: Uuid, plain: &[u8]) -> Vec<u8> {
        let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(self.0));
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = Self::associated_data(service_id, document_id);
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plain,
                    aad: &aad,
                },
            )
            .expect("AES-GCM encrypts any length a document can have");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        out
    }

    /// `None` for a wrong key or a changed file: the two cannot be told apart, and neither gives any bytes.
    pub fn open(&self, service_id: Uuid, document_id: Uuid, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(self.0));
        let aad = Self::associated_data(service_id, document_id);
        cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: body,
                    aad: &aad,
                },
            )
            .ok()
    }

    fn mac(&self, purpose: &str, document_id: Uuid, value: &[u8]) -> HmacSha256 {
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.update(document_id.as_bytes());
        mac.update(value);
        mac
    }

    /// What the database keeps to tell the right key from a wrong one without reading the file.
    pub fn key_check(&self, document_id: Uuid) -> Vec<u8> {
        self.mac("notify-document-key-check", document_id, b"")
            .finalize()
            .into_bytes()
            .to_vec()
    }

    pub fn opens(&self, document_id: Uuid, key_check: &[u8]) -> bool {
        self.mac("notify-document-key-check", document_id, b"")
            .verify_slice(key_check)
            .is_ok()
    }

    /// The recipient's address as the database keeps it: an HMAC under this key, so that even the stored hash
    /// of a guessable address can be checked only by someone holding the link.
    pub fn email_hash(&self, document_id: Uuid, address: &str) -> Vec<u8> {
        self.mac(
            "notify-document-email",
            document_id,
            normalise_address(address).as_bytes(),
        )
        .finalize()
        .into_bytes()
        .to_vec()
    }

    pub fn address_matches(&self, document_id: Uuid, address: &str, email_hash: &[u8]) -> bool {
        self.mac(
            "notify-document-email",
            document_id,
            normalise_address(address).as_bytes(),
        )
        .verify_slice(email_hash)
        .is_ok()
    }

    /// The proof, kept in a cookie, that this browser confirmed the address: made from the stored hash, so it
    /// takes the link and the address (or the database) to make one.
    pub fn access_token(&self, document_id: Uuid, email_hash: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(
            self.mac("notify-document-access", document_id, email_hash)
                .finalize()
                .into_bytes(),
        )
    }

    pub fn access_token_valid(&self, document_id: Uuid, email_hash: &[u8], token: &str) -> bool {
        URL_SAFE_NO_PAD.decode(token).is_ok_and(|bytes| {
            self.mac("notify-document-access", document_id, email_hash)
                .verify_slice(&bytes)
                .is_ok()
        })
    }
}

/// How the address is compared (document-download-frontend strips and lower-cases what is typed).
pub fn normalise_address(address: &str) -> String {
    address.trim().to_lowercase()
}

/// The recipient's link: `{base}/d/{service_id}/{document_id}?key={key}`.
pub fn download_link(base: &str, service_id: Uuid, document_id: Uuid, key: &DocumentKey) -> String {
    format!(
        "{}/d/{service_id}/{document_id}?key={}",
        base.trim_end_matches('/'),
        key.to_link_form()
    )
}

/// `"4 weeks"` (already validated: 1 to 78) or none: the number of weeks a document is kept.
pub fn retention_weeks(retention_period: Option<&str>) -> u32 {
    retention_period
        .and_then(|p| p.split_whitespace().next()?.parse::<u32>().ok())
        .filter(|w| (1..=MAX_RETENTION_WEEKS).contains(w))
        .unwrap_or(DEFAULT_RETENTION_WEEKS)
}

/// "1.2MB", "12.1KB": notifications-utils' `format_file_size` (binary units, one decimal place, at least 0.1KB;
/// a trailing `.0` dropped, though not upstream's stray zeros of `10.0`).
pub fn format_file_size(size: u64) -> String {
    let size = size as f64;
    if size < 1024.0 / 20.0 {
        "0.1KB".into()
    } else if size < 1024.0 * 1024.0 / 20.0 {
        format!("{}KB", one_decimal(size / 1024.0))
    } else {
        format!("{}MB", one_decimal(size / (1024.0 * 1024.0)))
    }
}

fn one_decimal(value: f64) -> String {
    let text = format!("{value:.1}");
    text.strip_suffix(".0").map(str::to_string).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PDF: &[u8] = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n";

    #[test]
    fn types_from_content_and_filename() {
        assert_eq!(detect_mime_type(PDF), "application/pdf");
        assert_eq!(detect_mime_type(b"a,b,c\n1,2,3\n4,5,6\n"), "text/csv");
        assert_eq!(detect_mime_type(b"hello there\n"), "text/plain");
        assert_eq!(detect_mime_type(b"{\"a\": 1}"), "application/json");
        assert_eq!(
            detect_mime_type(b"\x00\x01\x02\x03"),
            "application/octet-stream"
        );
        assert_eq!(
            document_mime_type(b"hello", None, true),
            Ok("text/csv"),
            "is_csv turns text into a CSV"
        );
        assert_eq!(
            document_mime_type(b"a,b\n1,2\n", Some("data.CSV"), false),
            Ok("text/csv")
        );
        assert_eq!(
            document_mime_type(PDF, Some("notes.txt"), false),
            Ok("text/plain"),
            "a named file keeps its extension's type when its content is an allowed type"
        );
        let err = document_mime_type(b"\x00\x01\x02", None, false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Unsupported file type 'application/octet-stream'. Supported types are: '.csv', '.doc', '.docx', \
             '.jpeg', '.jpg', '.json', '.odt', '.pdf', '.png', '.rtf', '.txt', '.xlsx'"
        );
        assert_eq!(
            check_filename("run.exe").unwrap_err().to_string(),
            "Unsupported file type '.exe'. Supported types are: '.csv', '.doc', '.docx', '.jpeg', '.jpg', \
             '.json', '.odt', '.pdf', '.png', '.rtf', '.txt', '.xlsx'"
        );
        assert_eq!(check_filename(&format!("{}.pdf", "a".repeat(96))), Ok(()));
        assert_eq!(
            check_filename(&format!("{}.pdf", "a".repeat(97))),
            Err(DocumentError::FilenameTooLong)
        );
    }

    #[test]
    fn sizes_and_base64() {
        assert_eq!(decode_file("YQ"), Ok(b"a".to_vec()));
        assert_eq!(decode_file("YQ==\n"), Ok(b"a".to_vec()));
        assert_eq!(decode_file("not base64!"), Err(DocumentError::NotBase64));
        assert_eq!(check_size(b""), Err(DocumentError::Empty));
        assert_eq!(
            check_size(&vec![0; MAX_DECODED_FILE_SIZE + 1]),
            Err(DocumentError::TooLarge)
        );
        assert_eq!(check_size(&vec![0; MAX_DECODED_FILE_SIZE]), Ok(()));
    }

    #[test]
    fn sealed_documents_open_only_with_their_key_and_place() {
        let (service, document) = (Uuid::new_v4(), Uuid::new_v4());
        let key = DocumentKey::generate();
        let sealed = key.seal(service, document, PDF);
        assert_eq!(key.open(service, document, &sealed).as_deref(), Some(PDF));
        assert_eq!(
            DocumentKey::generate().open(service, document, &sealed),
            None
        );
        assert_eq!(key.open(service, Uuid::new_v4(), &sealed), None);
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(key.open(service, document, &tampered), None);

        let link_form = key.to_link_form();
        assert_eq!(link_form.len(), 43);
        let again = DocumentKey::from_link_form(&link_form).unwrap();
        assert!(again.opens(document, &key.key_check(document)));
        assert!(!DocumentKey::generate().opens(document, &key.key_check(document)));
        assert!(DocumentKey::from_link_form("short").is_none());
        assert!(DocumentKey::from_link_form(&format!("{link_form}=")).is_some());
        assert_eq!(format!("{key:?}"), "DocumentKey(..)");
    }

    #[test]
    fn addresses_compare_trimmed_and_case_insensitively() {
        let (document, key) = (Uuid::new_v4(), DocumentKey::generate());
        let hash = key.email_hash(document, "Someone@Example.com");
        assert!(key.address_matches(document, "  someone@example.COM ", &hash));
        assert!(!key.address_matches(document, "someone.else@example.com", &hash));
        assert!(!DocumentKey::generate().address_matches(document, "someone@example.com", &hash));
        let token = key.access_token(document, &hash);
        assert!(key.access_token_valid(document, &hash, &token));
        assert!(!key.access_token_valid(document, &hash, "x"));
    }

    #[test]
    fn retention_and_sizes_shown() {
        assert_eq!(retention_weeks(None), 26);
        assert_eq!(retention_weeks(Some("4 Weeks ")), 4);
        assert_eq!(retention_weeks(Some("1 week")), 1);
        assert_eq!(format_file_size(1_234_567), "1.2MB");
        assert_eq!(format_file_size(2 * 1024 * 1024), "2MB");
        assert_eq!(format_file_size(12_345), "12.1KB");
        assert_eq!(format_file_size(42), "0.1KB");
    }
}
