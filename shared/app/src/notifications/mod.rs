//! Accepting a send (contract §4.4, in that order) and reading notifications back (§3.5–§3.7).
//!
//! - [`requests`]: send bodies read once into [`SmsRequest`], [`EmailRequest`] and [`LetterBody`];
//! - `accept`: the one pipeline the three channels share, `channels`: each channel's own checks;
//! - `files`: files sent by email; `present`: the 201 body and notifications read back.

mod accept;
mod channels;
mod files;
mod present;
pub mod requests;

pub use accept::{send, send_with_key};
pub use present::{get_letter_pdf, notification_json};
pub use requests::{EmailRequest, LetterBody, LetterRequest, PrecompiledLetterRequest, SmsRequest};
