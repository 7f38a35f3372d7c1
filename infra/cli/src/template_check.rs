//! `notify check-template`: the SAM-level mistakes in `template.yaml` that cfn-lint and `sam validate --lint` let
//! through, each of which deploys cleanly and then misbehaves: messages handled twice or lost, whole batches retried
//! for one bad message, every route 404, scheduled jobs that cannot parse their event, functions that log nothing
//! useful, EventBridge rules whose queue refuses their events.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

/// The template as JSON, its short-form intrinsics (`!Ref X`, `!GetAtt A.B`) spelled out as CloudFormation's long
/// form (`{"Ref": "X"}`, `{"Fn::GetAtt": ["A", "B"]}`).
pub fn load(text: &str) -> anyhow::Result<Value> {
    let yaml: serde_norway::Value = serde_norway::from_str(text)?;
    Ok(to_json(yaml))
}

fn to_json(yaml: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match yaml {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(n).unwrap_or(Value::Null),
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), to_json(v)))
                .collect(),
        ),
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let tag = tag.trim_start_matches('!');
            let value = to_json(tagged.value);
            match (tag, value) {
                ("Ref", v) => json!({ "Ref": v }),
                ("GetAtt", Value::String(s)) => {
                    let (resource, attribute) = s.split_once('.').unwrap_or((&s, ""));
                    json!({ "Fn::GetAtt": [resource, attribute] })
                }
                (other, v) => json!({ format!("Fn::{other}"): v }),
            }
        }
    }
}

/// The SQS limits (Lambda event source mappings): standard queues take batches up to 10,000 but only with a
/// batching window; FIFO queues up to 10 and no window.
const MAX_BATCH_STANDARD: i64 = 10_000;
const MAX_BATCH_WITHOUT_WINDOW: i64 = 10;
/// AWS's advice, and what keeps a message from reappearing while a slow invocation still works on it.
const VISIBILITY_PER_TIMEOUT: i64 = 6;
/// Lambda's default when a function sets no timeout.
const DEFAULT_TIMEOUT: i64 = 3;
/// SQS's default visibility timeout.
const DEFAULT_VISIBILITY: i64 = 30;
/// Where the functions' EMF metrics are published; every function must name it.
pub const METRICS_NAMESPACE_VARIABLE: &str = "METRICS_NAMESPACE";

/// Every mistake found, one line each; empty when there are none.
pub fn problems(template: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let empty = Map::new();
    let resources = template["Resources"].as_object().unwrap_or(&empty);
    let globals = &template["Globals"]["Function"];
    let parameters = &template["Parameters"];
    let of_type = |kind: &'static str| {
        resources
            .iter()
            .filter(move |(_, r)| r["Type"] == kind)
            .map(|(name, r)| (name.as_str(), r))
    };
    let dead_letter_targets: BTreeSet<String> = of_type("AWS::SQS::Queue")
        .filter_map(|(_, q)| {
            referenced_resource(&q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
        })
        .collect();
    for (name, queue) in of_type("AWS::SQS::Queue") {
        if !dead_letter_targets.contains(name)
            && queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"].is_null()
        {
            found.push(format!(
                "queue {name} has no dead-letter queue (RedrivePolicy)"
            ));
        }
    }
    // A queue's policy is one document: a second AWS::SQS::QueuePolicy on the same queue replaces the first, and
    // which one wins depends on the order CloudFormation applies them.
    let mut policies_of_queue: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (name, policy) in of_type("AWS::SQS::QueuePolicy") {
        for queue in policy["Properties"]["Queues"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(referenced_resource)
        {
            policies_of_queue.entry(queue).or_default().push(name);
        }
    }
    for (queue, policies) in &policies_of_queue {
        if policies.len() > 1 {
            found.push(format!(
                "queue {queue} is in {} queue policies ({}): each replaces the other; make them one",
                policies.len(),
                policies.join(", ")
            ));
        }
    }
    // An EventBridge rule delivers to a queue only if the queue's policy lets events.amazonaws.com send to it;
    // without, the rule matches and every event is dropped (or sits in the rule's own DLQ) in silence.
    for (name, rule) in of_type("AWS::Events::Rule") {
        for target in rule["Properties"]["Targets"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let queues = [&target["Arn"], &target["DeadLetterConfig"]["Arn"]]
                .into_iter()
                .filter_map(referenced_resource)
                .filter(|q| resources[q.as_str()]["Type"] == "AWS::SQS::Queue");
            for queue in queues {
                let allowed = policies_of_queue.get(&queue).is_some_and(|policies| {
                    policies
                        .iter()
                        .any(|p| lets_events_send(&resources[*p]["Properties"]["PolicyDocument"]))
                });
                if !allowed {
                    found.push(format!(
                        "rule {name} sends to queue {queue}, but no queue policy lets events.amazonaws.com sqs:SendMessage there"
                    ));
                }
            }
        }
    }
    for (name, api) in of_type("AWS::Serverless::HttpApi") {
        if !api["Properties"]["StageName"].is_null() {
            found.push(format!(
                "HTTP API {name} has a StageName: every route would 404 behind the stage prefix; use the $default stage"
            ));
        }
    }
    let log_groups: Vec<(&str, &Value)> = of_type("AWS::Logs::LogGroup").collect();
    for (name, function) in of_type("AWS::Serverless::Function") {
        let properties = &function["Properties"];
        let setting = |key: &str| {
            let own = &properties[key];
            if own.is_null() { &globals[key] } else { own }
        };
        let timeout = resolve(setting("Timeout"), parameters)
            .as_i64()
            .unwrap_or(DEFAULT_TIMEOUT);
        if setting("LoggingConfig")["LogFormat"] != "JSON" {
            found.push(format!(
                "function {name} does not log JSON (LoggingConfig.LogFormat)"
            ));
        }
        // Its own group (LoggingConfig.LogGroup), or the default /aws/lambda/<name> made in the template.
        let own_group = referenced_resource(&setting("LoggingConfig")["LogGroup"]);
        let has_log_group = log_groups.iter().any(|(group, g)| {
            let named_for_it = g["Properties"]["LogGroupName"]
                .to_string()
                .contains(&format!("${{{name}}}"));
            (own_group.as_deref() == Some(*group) || named_for_it)
                && !g["Properties"]["RetentionInDays"].is_null()
        });
        if !has_log_group {
            found.push(format!(
                "function {name} has no log group with a retention period"
            ));
        }
        let has_namespace = [properties, globals]
            .iter()
            .any(|p| !p["Environment"]["Variables"][METRICS_NAMESPACE_VARIABLE].is_null());
        if !has_namespace {
            found.push(format!(
                "function {name} does not set {METRICS_NAMESPACE_VARIABLE} for its metrics"
            ));
        }
        let events = properties["Events"].as_object().unwrap_or(&empty);
        for (event_name, event) in events {
            let event_properties = &event["Properties"];
            let at = format!("{name}.{event_name}");
            match event["Type"].as_str().unwrap_or_default() {
                "SQS" => {
                    let queue_name = referenced_resource(&event_properties["Queue"]);
                    let queue = queue_name
                        .as_deref()
                        .map(|q| &resources[q]["Properties"])
                        .unwrap_or(&Value::Null);
                    let visibility = resolve(&queue["VisibilityTimeout"], parameters)
                        .as_i64()
                        .unwrap_or(DEFAULT_VISIBILITY);
                    if visibility < VISIBILITY_PER_TIMEOUT * timeout {
                        found.push(format!(
                            "{at}: queue {} has a visibility timeout of {visibility} s, under {VISIBILITY_PER_TIMEOUT} × the function's {timeout} s",
                            queue_name.as_deref().unwrap_or("?")
                        ));
                    }
                    let reports_items = event_properties["FunctionResponseTypes"]
                        .as_array()
                        .is_some_and(|t| t.iter().any(|t| t == "ReportBatchItemFailures"));
                    if !reports_items {
                        found.push(format!(
                            "{at}: no FunctionResponseTypes [ReportBatchItemFailures], so one failure retries the whole batch"
                        ));
                    }
                    let fifo = queue["FifoQueue"] == true;
                    let batch = largest(&event_properties["BatchSize"], parameters).unwrap_or(10);
                    let window = largest(
                        &event_properties["MaximumBatchingWindowInSeconds"],
                        parameters,
                    );
                    let smallest_window = smallest(
                        &event_properties["MaximumBatchingWindowInSeconds"],
                        parameters,
                    );
                    let limit = if fifo {
                        MAX_BATCH_WITHOUT_WINDOW
                    } else {
                        MAX_BATCH_STANDARD
                    };
                    if batch > limit {
                        found.push(format!(
                            "{at}: batch size {batch} is over the limit of {limit}"
                        ));
                    } else if batch > MAX_BATCH_WITHOUT_WINDOW
                        && smallest_window.is_none_or(|w| w < 1)
                    {
                        found.push(format!(
                            "{at}: batch size {batch} needs MaximumBatchingWindowInSeconds of at least 1"
                        ));
                    }
                    if fifo && window.is_some() {
                        found.push(format!("{at}: a FIFO queue takes no batching window"));
                    }
                    if event_properties["ScalingConfig"]["MaximumConcurrency"].is_null() {
                        found.push(format!(
                            "{at}: no ScalingConfig.MaximumConcurrency, so a backlog fans out past what the database can take"
                        ));
                    }
                }
                "ScheduleV2" => found.push(format!(
                    "{at}: ScheduleV2 (EventBridge Scheduler); the scheduled function is written for Schedule rules"
                )),
                "Schedule" => {
                    let job = event_properties["Input"]
                        .as_str()
                        .and_then(|i| serde_json::from_str::<Value>(i).ok())
                        .and_then(|i| i["job"].as_str().map(String::from));
                    if job.is_none() {
                        found.push(format!(
                            "{at}: a schedule without Input {{\"job\": \"<name>\"}}"
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    found
}

/// A policy document with an Allow of `sqs:SendMessage` (or `sqs:*`) to the EventBridge service.
fn lets_events_send(document: &Value) -> bool {
    let as_list = |v: &Value| -> Vec<Value> {
        match v {
            Value::Array(items) => items.clone(),
            Value::Null => Vec::new(),
            other => vec![other.clone()],
        }
    };
    as_list(&document["Statement"]).iter().any(|statement| {
        statement["Effect"] == "Allow"
            && as_list(&statement["Principal"]["Service"])
                .iter()
                .any(|s| s == "events.amazonaws.com")
            && as_list(&statement["Action"])
                .iter()
                .any(|a| a == "sqs:SendMessage" || a == "sqs:*")
    })
}

/// `!GetAtt Q.Arn`, `!Ref Q` → `Q`.
fn referenced_resource(value: &Value) -> Option<String> {
    value["Fn::GetAtt"][0]
        .as_str()
        .or_else(|| value["Ref"].as_str())
        .map(String::from)
}

/// A parameter's default in place of its `!Ref`.
fn resolve<'a>(value: &'a Value, parameters: &'a Value) -> &'a Value {
    match value["Ref"].as_str() {
        Some(name) if !parameters[name].is_null() => &parameters[name]["Default"],
        _ => value,
    }
}

fn number(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

/// The largest value a setting can take: a parameter's MaxValue (or its default when it has none).
fn largest(value: &Value, parameters: &Value) -> Option<i64> {
    match value["Ref"].as_str() {
        Some(name) => {
            let p = &parameters[name];
            number(&p["MaxValue"]).or_else(|| number(&p["Default"]))
        }
        None => number(value),
    }
}

/// The smallest value a setting can take: a parameter's MinValue (or its default when it has none).
fn smallest(value: &Value, parameters: &Value) -> Option<i64> {
    match value["Ref"].as_str() {
        Some(name) => {
            let p = &parameters[name];
            number(&p["MinValue"]).or_else(|| number(&p["Default"]))
        }
        None => number(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> Value {
        load(include_str!("../../../template.yaml")).unwrap()
    }

    /// The project's template, with one thing changed, must show exactly the problem that change makes.
    fn broken(change: impl FnOnce(&mut Value)) -> Vec<String> {
        let mut t = template();
        change(&mut t);
        problems(&t)
    }

    fn first_sqs_event<'a>(t: &'a mut Value, function: &str) -> &'a mut Value {
        let events = t["Resources"][function]["Properties"]["Events"]
            .as_object_mut()
            .unwrap();
        events.values_mut().find(|e| e["Type"] == "SQS").unwrap()
    }

    #[test]
    fn the_projects_template_has_none_of_the_known_mistakes() {
        assert_eq!(problems(&template()), Vec::<String>::new());
    }

    #[test]
    fn short_form_intrinsics_are_read_as_long_form() {
        let t = load("A: !GetAtt Queue.Arn\nB: !Ref Param\nC: !Sub '${X}'\n").unwrap();
        assert_eq!(
            t,
            json!({"A": {"Fn::GetAtt": ["Queue", "Arn"]}, "B": {"Ref": "Param"}, "C": {"Fn::Sub": "${X}"}})
        );
    }

    #[test]
    fn a_visibility_timeout_under_six_timeouts() {
        let found = broken(|t| {
            t["Resources"]["StatusQueue"]["Properties"]["VisibilityTimeout"] = json!(60);
        });
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("StatusQueue has a visibility timeout of 60 s"),
            "{found:?}"
        );
    }

    #[test]
    fn an_sqs_event_without_partial_batch_failures() {
        let found = broken(|t| {
            first_sqs_event(t, "StatusFunction")
                .as_object_mut()
                .unwrap()["Properties"]
                .as_object_mut()
                .unwrap()
                .remove("FunctionResponseTypes");
        });
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("ReportBatchItemFailures"), "{found:?}");
    }

    #[test]
    fn a_batch_over_the_limit_or_without_its_window() {
        let found = broken(|t| {
            first_sqs_event(t, "CallbacksFunction")["Properties"]["BatchSize"] = json!(20_000);
        });
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("over the limit of 10000"), "{found:?}");
        let found = broken(|t| {
            let event = first_sqs_event(t, "CallbacksFunction");
            event["Properties"]["BatchSize"] = json!(100);
            event["Properties"]
                .as_object_mut()
                .unwrap()
                .remove("MaximumBatchingWindowInSeconds");
        });
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("needs MaximumBatchingWindowInSeconds"),
            "{found:?}"
        );
        // A parameter that lets an operator choose a batch over the limit is the same mistake.
        let found = broken(|t| {
            t["Parameters"]["StatusBatchSize"]["MaxValue"] = json!(20_000);
        });
        assert!(
            found.iter().any(|p| p.contains("over the limit")),
            "{found:?}"
        );
    }

    #[test]
    fn a_queue_without_a_dead_letter_queue() {
        let found = broken(|t| {
            t["Resources"]["CallbacksQueue"]["Properties"]
                .as_object_mut()
                .unwrap()
                .remove("RedrivePolicy");
        });
        // Its dead-letter queue is now a queue like any other, and has none of its own either.
        assert!(
            found.contains(&"queue CallbacksQueue has no dead-letter queue (RedrivePolicy)".into()),
            "{found:?}"
        );
    }

    #[test]
    fn an_event_rule_to_a_queue_that_does_not_let_eventbridge_send() {
        let found = broken(|t| {
            t["Resources"]["LettersScanResultQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
                [0]["Principal"]["Service"] = json!("sns.amazonaws.com");
        });
        // The rule's target and its dead-letter queue both.
        assert_eq!(
            found,
            [
                "rule LettersScanResultRule sends to queue DeliverLetterQueue, but no queue policy lets events.amazonaws.com sqs:SendMessage there",
                "rule LettersScanResultRule sends to queue DeliverLetterDlq, but no queue policy lets events.amazonaws.com sqs:SendMessage there",
            ]
        );
        let found = broken(|t| {
            t["Resources"]
                .as_object_mut()
                .unwrap()
                .remove("LettersScanResultQueuePolicy");
        });
        assert_eq!(found.len(), 2, "{found:?}");
    }

    #[test]
    fn two_queue_policies_on_one_queue() {
        let found = broken(|t| {
            let second = t["Resources"]["StatusQueuePolicy"].clone();
            t["Resources"]["SecondStatusQueuePolicy"] = second;
        });
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("queue StatusQueue is in 2 queue policies"),
            "{found:?}"
        );
    }

    #[test]
    fn an_http_api_with_a_stage_name() {
        let found = broken(|t| {
            t["Resources"]["HttpApi"]["Properties"]["StageName"] = json!("prod");
        });
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("StageName"), "{found:?}");
    }

    #[test]
    fn a_schedule_v2_or_a_schedule_without_its_job() {
        let found = broken(|t| {
            let events = t["Resources"]["ScheduledFunction"]["Properties"]["Events"]
                .as_object_mut()
                .unwrap();
            let first = events.values_mut().next().unwrap();
            first["Type"] = json!("ScheduleV2");
        });
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("ScheduleV2"), "{found:?}");
        let found = broken(|t| {
            let events = t["Resources"]["ScheduledFunction"]["Properties"]["Events"]
                .as_object_mut()
                .unwrap();
            let first = events.values_mut().next().unwrap();
            first["Properties"].as_object_mut().unwrap().remove("Input");
        });
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("without Input"), "{found:?}");
    }

    #[test]
    fn a_function_without_its_log_and_metric_settings() {
        let found = broken(|t| {
            t["Resources"]["StatusLogGroup"]["Properties"]
                .as_object_mut()
                .unwrap()
                .remove("RetentionInDays");
            t["Resources"]["StatusFunction"]["Properties"]["LoggingConfig"]["LogFormat"] =
                json!("Text");
        });
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("does not log JSON"), "{found:?}");
        assert!(found[1].contains("no log group"), "{found:?}");
        let found = broken(|t| {
            t["Globals"]["Function"]["Environment"]["Variables"]
                .as_object_mut()
                .unwrap()
                .remove(METRICS_NAMESPACE_VARIABLE);
        });
        assert!(!found.is_empty(), "{found:?}");
        assert!(
            found.iter().all(|p| p.contains(METRICS_NAMESPACE_VARIABLE)),
            "{found:?}"
        );
    }
}
