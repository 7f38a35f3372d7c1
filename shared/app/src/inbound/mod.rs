//! Texts users send to services' inbound numbers: stored for the service that owns the number, with an
//! inbound-SMS callback put in the outbox when the service has one.

pub mod formats;

use uuid::Uuid;

use crate::AppState;
use notify_core::recipients::PhoneNumber;
use notify_db::{DbError, NewInboundSms};
use notify_outbound::providers::aws_sms::InboundText;

/// The ways providers write one UK number: `07700900999`, `447700900999`, `+447700900999`.
fn number_spellings(number: &str) -> Vec<String> {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    let mut spellings = vec![number.to_string(), digits.clone(), format!("+{digits}")];
    if let Some(national) = digits.strip_prefix("44") {
        spellings.push(format!("0{national}"));
    } else if let Some(national) = digits.strip_prefix('0') {
        spellings.push(format!("44{national}"));
        spellings.push(format!("+44{national}"));
    }
    spellings.dedup();
    spellings
}

/// Stores the text for the number's service, with its inbound-SMS callback in the outbox in the same statement
/// when the service has one, relayed to the callbacks queue right after. `Ok(None)` when no service owns the number: logged and dropped, as there is nobody to give it to.
pub async fn receive(
    state: &AppState,
    provider: &str,
    text: &InboundText,
) -> Result<Option<Uuid>, DbError> {
    let Some(owner) = state
        .db
        .inbound_number_owner(&number_spellings(&text.to))
        .await?
    else {
        tracing::warn!(
            provider,
            "inbound text for a number no service owns; dropped"
        );
        return Ok(None);
    };
    let user_number = PhoneNumber::parse(&text.from)
        .map(|p| p.normalised().to_string())
        .unwrap_or_else(|_| text.from.trim_start_matches('+').to_string());
    let received_at = text.received_at.unwrap_or_else(|| state.now());
    let (id, outbox_id) = state
        .db
        .insert_inbound_sms(&NewInboundSms {
            service_id: owner.service_id,
            notify_number: owner.number.clone(),
            user_number,
            provider: provider.to_string(),
            provider_reference: text.provider_reference.clone(),
            provider_date: Some(received_at),
            encrypted_content: state.encryptor.encrypt(&text.content),
        })
        .await?;
    tracing::info!(service_id = %owner.service_id, inbound_sms_id = %id, provider, "inbound text stored");
    if let Some(outbox_id) = outbox_id {
        // Stored with the text: a queue refusal now leaves it to the sweeper, never fails the text.
        crate::callbacks::relay_now(state, &[outbox_id]).await;
    }
    Ok(Some(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uk_numbers_in_every_spelling() {
        let spellings = number_spellings("07700900999");
        assert!(spellings.contains(&"447700900999".to_string()));
        assert!(spellings.contains(&"+447700900999".to_string()));
        assert!(number_spellings("+447700900999").contains(&"07700900999".to_string()));
    }
}
