//! SQS (deliver-letter) → letters: `Deliver` renders a letter and stores its PDF, `PrintLetter` (from the
//! evening's collation) hands it to the printer. Renderer and printer built once per execution environment; no
//! database connection is held while rendering or printing.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use notify_app::letters::LetterTools;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let worker = notify_runtime::bootstrap::worker("notify-letters", 2).await?;
    let tools = LetterTools {
        renderer: Arc::new(notify_letters::PdfRenderer::new()),
        // DVLA when DVLA_API_URL is set; the simulated printer otherwise.
        printer: notify_outbound::print::from_config(&worker.state.config).await,
        scanner: notify_outbound::scan::from_config(&worker.state.config).await,
    };
    let (state, tools, sqs) = (&worker.state, &tools, &worker.sqs);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(
            notify_runtime::lambda::letters_batch(state, tools, sqs, event.payload).await,
        )
    }))
    .await
}
