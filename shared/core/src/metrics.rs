//! CloudWatch metrics as Embedded Metric Format: one JSON line on stdout per measurement, which CloudWatch Logs
//! turns into metrics, so no API call and no agent. Written only where `METRICS_NAMESPACE` is set (the template
//! sets it on every function) or a test captures them. Dimensions are a notification type, a provider, a status or
//! a callback type: never anything about a recipient.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

use serde_json::{Map, Value, json};

#[derive(Clone, Copy, Debug)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

type Sink = Box<dyn Write + Send>;

struct Emitter {
    namespace: String,
    sink: Option<Mutex<Sink>>,
}

static EMITTER: OnceLock<Option<Emitter>> = OnceLock::new();

fn emitter() -> Option<&'static Emitter> {
    EMITTER.get_or_init(|| None).as_ref()
}

/// Writes every metric of this process to stdout under `namespace` (the configuration's `METRICS_NAMESPACE`);
/// none without one. Only the first namespace in a process counts, and only before anything was emitted.
pub fn init(namespace: Option<&str>) {
    if let Some(namespace) = namespace {
        let _ = EMITTER.set(Some(Emitter {
            namespace: namespace.into(),
            sink: None,
        }));
    }
}

/// Sends every metric of this process to `sink` under `namespace`, instead of stdout (tests). Only the first call
/// in a process counts, and only before anything was emitted.
pub fn capture(namespace: &str, sink: impl Write + Send + 'static) {
    let _ = EMITTER.set(Some(Emitter {
        namespace: namespace.into(),
        sink: Some(Mutex::new(Box::new(sink))),
    }));
}

/// One EMF document: `value` of `name` in `unit`, with `dimensions` as both the metric's dimensions and properties.
pub fn document(
    namespace: &str,
    name: &str,
    value: f64,
    unit: Unit,
    dimensions: &[(&str, &str)],
    timestamp_ms: i64,
) -> Value {
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [dimensions.iter().map(|(k, _)| *k).collect::<Vec<_>>()],
                "Metrics": [{"Name": name, "Unit": unit.as_str()}],
            }],
        }),
    );
    for (key, value) in dimensions {
        doc.insert((*key).into(), json!(value));
    }
    doc.insert(name.into(), json!(value));
    Value::Object(doc)
}

fn emit(name: &str, value: f64, unit: Unit, dimensions: &[(&str, &str)]) {
    let Some(emitter) = emitter() else {
        return;
    };
    let doc = document(
        &emitter.namespace,
        name,
        value,
        unit,
        dimensions,
        chrono::Utc::now().timestamp_millis(),
    );
    let line = format!("{doc}\n");
    match &emitter.sink {
        Some(sink) => {
            let _ = sink
                .lock()
                .expect("metrics sink")
                .write_all(line.as_bytes());
        }
        None => {
            let _ = std::io::stdout().lock().write_all(line.as_bytes());
        }
    }
}

pub fn count(name: &str, n: u64, dimensions: &[(&str, &str)]) {
    if n > 0 {
        emit(name, n as f64, Unit::Count, dimensions);
    }
}

pub fn milliseconds(name: &str, ms: f64, dimensions: &[(&str, &str)]) {
    emit(name, ms, Unit::Milliseconds, dimensions);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_follow_the_embedded_metric_format() {
        let doc = document(
            "Notify",
            "NotificationsSent",
            3.0,
            Unit::Count,
            &[("NotificationType", "sms"), ("Provider", "firetext")],
            1_795_773_600_000,
        );
        assert_eq!(
            doc,
            json!({
                "_aws": {"Timestamp": 1_795_773_600_000i64, "CloudWatchMetrics": [{"Namespace": "Notify",
                    "Dimensions": [["NotificationType", "Provider"]],
                    "Metrics": [{"Name": "NotificationsSent", "Unit": "Count"}]}]},
                "NotificationType": "sms", "Provider": "firetext", "NotificationsSent": 3.0
            })
        );
    }
}
