//! Letters test doubles: a renderer that makes a minimal PDF of a chosen length (or fails), a printer that
//! records its jobs and answers as told, and a file store that is away.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use notify_files::{FileError, FileStore};
use notify_letters::{Letter, LetterRenderer, RenderError, RenderedLetter};
use notify_outbound::print::{PrintAccepted, PrintError, PrintJob, PrintProvider};

/// A minimal valid PDF with `pages` blank A4 pages.
pub fn minimal_pdf(pages: u32) -> Vec<u8> {
    let mut objects = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        format!(
            "<< /Type /Pages /Kids [{}] /Count {pages} >>",
            (0..pages)
                .map(|i| format!("{} 0 R", i + 3))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    ];
    for _ in 0..pages {
        objects.push("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595.28 841.89] >>".into());
    }
    let mut pdf = b"%PDF-1.7\n".to_vec();
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{object}\nendobj\n", i + 1).as_bytes());
    }
    let xref = pdf.len();
    pdf.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        pdf.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    pdf
}

/// Renders every letter as `pages` blank pages, or fails; keeps the letters it was given.
pub struct TestRenderer {
    pub pages: u32,
    pub fail: Option<RenderError>,
    pub rendered: Mutex<Vec<Letter>>,
}

impl TestRenderer {
    pub fn pages(pages: u32) -> Arc<Self> {
        Arc::new(TestRenderer {
            pages,
            fail: None,
            rendered: Mutex::new(Vec::new()),
        })
    }

    pub fn failing(error: RenderError) -> Arc<Self> {
        Arc::new(TestRenderer {
            pages: 1,
            fail: Some(error),
            rendered: Mutex::new(Vec::new()),
        })
    }

    pub fn letters(&self) -> Vec<Letter> {
        self.rendered.lock().unwrap().clone()
    }
}

impl LetterRenderer for TestRenderer {
    fn render(&self, letter: &Letter) -> Result<RenderedLetter, RenderError> {
        self.rendered.lock().unwrap().push(letter.clone());
        match &self.fail {
            Some(error) => Err(error.clone()),
            None => Ok(RenderedLetter {
                pdf: minimal_pdf(self.pages),
                page_count: self.pages,
            }),
        }
    }
}

/// The real renderer, keeping the letters it was given.
pub struct Recording<R> {
    pub inner: R,
    pub rendered: Mutex<Vec<Letter>>,
}

impl<R: LetterRenderer> LetterRenderer for Recording<R> {
    fn render(&self, letter: &Letter) -> Result<RenderedLetter, RenderError> {
        self.rendered.lock().unwrap().push(letter.clone());
        self.inner.render(letter)
    }
}

/// Records every job; answers each with the next scripted answer (then `New`).
#[derive(Default)]
pub struct RecordingPrinter {
    pub jobs: Mutex<Vec<PrintJob>>,
    pub answers: Mutex<Vec<Result<PrintAccepted, PrintError>>>,
}

impl RecordingPrinter {
    pub fn answering(answers: Vec<Result<PrintAccepted, PrintError>>) -> Arc<Self> {
        Arc::new(RecordingPrinter {
            jobs: Mutex::new(Vec::new()),
            answers: Mutex::new(answers),
        })
    }

    pub fn jobs(&self) -> Vec<PrintJob> {
        self.jobs.lock().unwrap().clone()
    }
}

#[async_trait]
impl PrintProvider for RecordingPrinter {
    fn name(&self) -> &'static str {
        "recording-printer"
    }

    async fn print(&self, job: &PrintJob) -> Result<PrintAccepted, PrintError> {
        self.jobs.lock().unwrap().push(job.clone());
        let mut answers = self.answers.lock().unwrap();
        if answers.is_empty() {
            Ok(PrintAccepted::New)
        } else {
            answers.remove(0)
        }
    }
}

/// A file store that is away: every call fails as S3 does in an outage.
pub struct StoreDown;

#[async_trait]
impl FileStore for StoreDown {
    async fn put(&self, _: &str, _: Vec<u8>, _: &str) -> Result<(), FileError> {
        Err(FileError::Unavailable("store down".into()))
    }
    async fn get(&self, _: &str) -> Result<Option<Vec<u8>>, FileError> {
        Err(FileError::Unavailable("store down".into()))
    }
    async fn delete(&self, _: &str) -> Result<(), FileError> {
        Err(FileError::Unavailable("store down".into()))
    }
    async fn put_with_metadata(
        &self,
        _: &str,
        _: Vec<u8>,
        _: &str,
        _: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), FileError> {
        Err(FileError::Unavailable("store down".into()))
    }
    async fn metadata(
        &self,
        _: &str,
    ) -> Result<Option<std::collections::BTreeMap<String, String>>, FileError> {
        Err(FileError::Unavailable("store down".into()))
    }
}

/// The collation as it runs at 17:50 London on the day that prints a letter created at `created_at`: the letters
/// it put on the deliver-letter queue for the printer.
pub async fn collate_for(
    app: &crate::TestApp,
    created_at: chrono::DateTime<chrono::Utc>,
) -> Vec<uuid::Uuid> {
    use notify_core::letters::{print_day, print_deadline};
    use notify_core::messages::Message;
    let at = print_deadline(print_day(created_at)) + chrono::Duration::minutes(20);
    notify_app::letters::collate(&app.state, at, || true)
        .await
        .unwrap();
    app.queue
        .take_all(&app.state.config.queues.deliver_letter)
        .into_iter()
        .filter_map(|m| match m {
            Message::PrintLetter {
                notification_id, ..
            } => Some(notification_id),
            _ => None,
        })
        .collect()
}

/// The PDF a DVLA print request carries (base64 in `customParams[pdfContent]`).
pub fn print_request_pdf(body: &serde_json::Value) -> Vec<u8> {
    let pdf = body["customParams"]
        .as_array()
        .expect("customParams")
        .iter()
        .find(|p| p["key"] == "pdfContent")
        .and_then(|p| p["value"].as_str())
        .expect("the PDF travels base64");
    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, pdf).unwrap()
}

/// DVLA's callback to `POST /notifications/letter/status`, with the query (token) the print request named.
pub async fn post_letter_callback(
    app: &crate::TestApp,
    query: &str,
    body: &serde_json::Value,
) -> crate::Response {
    let body = serde_json::to_vec(body).unwrap();
    app.request(
        "POST",
        &format!("/notifications/letter/status{query}"),
        None,
        Some(&body),
    )
    .await
}
