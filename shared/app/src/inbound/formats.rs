//! Texts users send to a service's inbound number, in the formats the aggregators post them to
//! `POST /inbound/sms/{provider}`.

use serde::Deserialize;

use notify_outbound::providers::aws_sms::InboundText;

/// Firetext posts a form: `source` (the user), `destination` (our number), `message`, `time`.
fn firetext(body: &[u8]) -> Option<InboundText> {
    let mut from = None;
    let mut to = None;
    let mut content = None;
    for (key, value) in form_urlencoded::parse(body) {
        match key.as_ref() {
            "source" => from = Some(value.into_owned()),
            "destination" => to = Some(value.into_owned()),
            "message" => content = Some(value.into_owned()),
            _ => {}
        }
    }
    Some(InboundText {
        from: from?,
        to: to?,
        content: content?,
        provider_reference: None,
        received_at: None,
    })
}

#[derive(Deserialize)]
struct MmgInbound {
    #[serde(rename = "MSISDN")]
    msisdn: String,
    #[serde(rename = "Number")]
    number: String,
    /// URL-encoded, with `+` for spaces.
    #[serde(rename = "Message")]
    message: String,
    #[serde(rename = "ID")]
    id: Option<String>,
}

/// MMG posts JSON: `MSISDN` (the user), `Number` (our number), `Message` (URL-encoded), `ID`.
fn mmg(body: &[u8]) -> Option<InboundText> {
    let inbound: MmgInbound = serde_json::from_slice(body).ok()?;
    let content = form_urlencoded::parse(format!("m={}", inbound.message).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    Some(InboundText {
        from: inbound.msisdn,
        to: inbound.number,
        content,
        provider_reference: inbound.id,
        received_at: None,
    })
}

/// Providers whose inbound format we read.
pub const PROVIDERS: [&str; 2] = ["mmg", "firetext"];

pub fn parse(provider: &str, body: &[u8]) -> Option<InboundText> {
    match provider {
        "firetext" => firetext(body),
        "mmg" => mmg(body),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firetext_form() {
        let text = parse(
            "firetext",
            b"source=07700900123&destination=07700900999&message=Hello+there&time=2026-11-27+10%3A00%3A00",
        )
        .unwrap();
        assert_eq!(
            (text.from.as_str(), text.to.as_str(), text.content.as_str()),
            ("07700900123", "07700900999", "Hello there")
        );
        assert!(parse("firetext", b"source=1").is_none());
    }

    #[test]
    fn mmg_json() {
        let text = parse(
            "mmg",
            br#"{"MSISDN":"447700900123","Number":"07700900999","Message":"Hello+there%21","ID":"abc","DateRecieved":"2026-11-27+10%3A00%3A00"}"#,
        )
        .unwrap();
        assert_eq!(text.content, "Hello there!");
        assert_eq!(text.provider_reference.as_deref(), Some("abc"));
        assert!(parse("mmg", b"{}").is_none());
        assert!(parse("nobody", b"{}").is_none());
    }
}
