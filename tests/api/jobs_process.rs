//! The jobs worker (issue 14 §3): a CSV job made into numbered notifications, their deliveries queued after each
//! batch commits, resumed without gaps or duplicates after a crash, claimed by one run of two, refused whole by
//! the daily limit or an inactive service; and SQS `SendMessageBatch` against moto.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use notify_app::AppState;
use notify_app::bulk::process::{ProcessOutcome, ProcessSettings, process_job, process_job_with};
use notify_core::messages::Message;
use notify_core::model::{JobStatus, LimitName};
use notify_db::NewJob;
use notify_files::{FileError, FileStore};
use notify_queue::{Queue, QueueError, SqsQueue};
use notify_tests::{TestApp, TestService, moto_url};
use uuid::Uuid;

const BUDGET: Duration = Duration::from_secs(600);

async fn observer(database_url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

fn sms_csv(numbers: &[String]) -> Vec<u8> {
    let mut csv = String::from("phone number,name\n");
    for (i, n) in numbers.iter().enumerate() {
        csv.push_str(&format!("{n},person {i}\n"));
    }
    csv.into_bytes()
}

fn good_numbers(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("07700 9{:05}", i % 100_000))
        .collect()
}

/// A pending SMS job of `csv`, stored as the admin API stores one.
async fn sms_job(state: &AppState, s: &TestService, csv: Vec<u8>, rows: usize) -> Uuid {
    let id = Uuid::new_v4();
    let key = notify_core::jobs::csv_upload_key(s.service.id, id);
    state
        .files
        .put_with_metadata(&key, csv, "text/csv", &BTreeMap::new())
        .await
        .unwrap();
    let template = state
        .db
        .get_template(s.service.id, s.sms_template, None)
        .await
        .unwrap()
        .unwrap();
    state
        .db
        .insert_job(&NewJob {
            id,
            service_id: s.service.id,
            template_id: template.id,
            template_version: template.version,
            original_file_name: "people.csv".into(),
            notification_count: rows as i32,
            status: JobStatus::Pending,
            scheduled_for: None,
            created_by_id: None,
            api_key_id: None,
            sender_id: None,
            upload_key: key,
        })
        .await
        .unwrap();
    id
}

/// The job's notifications: (row number, status, id).
async fn job_rows(app: &TestApp, job_id: Uuid) -> Vec<(i32, String, Uuid)> {
    observer(&app.database_url)
        .await
        .query(
            "SELECT job_row_number, notification_status, id FROM notifications WHERE job_id = $1 \
             ORDER BY job_row_number",
            &[&job_id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

async fn job_status(app: &TestApp, s: &TestService, job_id: Uuid) -> (JobStatus, i32) {
    let job = app
        .state
        .db
        .get_job(s.service.id, job_id)
        .await
        .unwrap()
        .unwrap();
    (job.status, job.rows_processed)
}

fn delivered_ids(app: &TestApp) -> Vec<Uuid> {
    app.queue
        .take_all(&app.state.config.queues.deliver_sms)
        .into_iter()
        .map(|m| match m {
            Message::Deliver {
                notification_id, ..
            } => notification_id,
            other => panic!("not a delivery: {other:?}"),
        })
        .collect()
}

fn settings(batch_size: usize) -> ProcessSettings {
    ProcessSettings {
        batch_size,
        ..ProcessSettings::new(BUDGET)
    }
}

#[tokio::test]
async fn every_row_becomes_a_numbered_notification_and_a_delivery() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let mut numbers = good_numbers(10);
    numbers[3] = "12345".into();
    numbers[7] = "not a number".into();
    let job_id = sms_job(&app.state, &s, sms_csv(&numbers), 10).await;
    let outcome = process_job_with(&app.state, job_id, &settings(4))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        ProcessOutcome::Finished {
            rows: 10,
            queued: 8
        }
    );
    let rows = job_rows(&app, job_id).await;
    assert_eq!(
        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );
    for (n, status, _) in &rows {
        let expected = if *n == 3 || *n == 7 {
            "validation-failed"
        } else {
            "created"
        };
        assert_eq!(status, expected, "row {n}");
    }
    let created: Vec<Uuid> = rows
        .iter()
        .filter(|r| r.1 == "created")
        .map(|r| r.2)
        .collect();
    assert_eq!(delivered_ids(&app), created);
    assert_eq!(
        job_status(&app, &s, job_id).await,
        (JobStatus::Finished, 10)
    );

    let stored = app.stored(s.service.id, created[0]).await;
    assert_eq!(stored.to, "07700 900000");
    assert_eq!(stored.normalised_to.as_deref(), Some("447700900000"));
    assert_eq!(stored.key_type.as_str(), "normal");
    let personalisation = app
        .state
        .encryptor
        .decrypt(stored.encrypted_personalisation.as_deref().unwrap())
        .unwrap();
    assert!(personalisation.contains("person 0"), "{personalisation}");
    // Counted against today's limit: the 8 sent, not the 2 that failed validation.
    let counted = app
        .state
        .limiter
        .daily_count(
            s.service.id,
            LimitName::Sms,
            notify_core::model::KeyType::Normal,
            app.state.now(),
        )
        .await;
    assert_eq!(counted, 8);

    // A second message for the same job is a no-op.
    assert_eq!(
        process_job(&app.state, job_id, BUDGET).await.unwrap(),
        ProcessOutcome::NotClaimed
    );
    assert!(delivered_ids(&app).is_empty());
}

#[tokio::test]
async fn a_run_that_crashed_mid_job_is_resumed_without_gaps_or_duplicates() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let job_id = sms_job(&app.state, &s, sms_csv(&good_numbers(25)), 25).await;
    let crash = ProcessSettings {
        crash_after_batches: Some(2),
        ..settings(5)
    };
    process_job_with(&app.state, job_id, &crash)
        .await
        .expect_err("crashed");
    // Two batches committed: 10 rows stored, the checkpoint at 10; the second batch's deliveries never queued.
    assert_eq!(job_rows(&app, job_id).await.len(), 10);
    assert_eq!(
        job_status(&app, &s, job_id).await,
        (JobStatus::InProgress, 10)
    );
    let first_run = delivered_ids(&app);
    assert_eq!(first_run.len(), 5);
    // Fresh heartbeat: not claimable yet.
    assert_eq!(
        process_job(&app.state, job_id, BUDGET).await.unwrap(),
        ProcessOutcome::NotClaimed
    );
    // As if STALE_AFTER had passed (and, to prove the constraint too, the checkpoint lost one batch).
    observer(&app.database_url)
        .await
        .execute(
            "UPDATE jobs SET processing_heartbeat = now() - interval '6 minutes', rows_processed = 5 \
             WHERE id = $1",
            &[&job_id],
        )
        .await
        .unwrap();
    let outcome = process_job_with(&app.state, job_id, &settings(5))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        ProcessOutcome::Finished {
            rows: 25,
            queued: 15
        }
    );
    let rows = job_rows(&app, job_id).await;
    assert_eq!(
        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        (0..25).collect::<Vec<_>>()
    );
    let second_run = delivered_ids(&app);
    let queued: BTreeSet<Uuid> = first_run.iter().chain(&second_run).copied().collect();
    assert_eq!(
        queued.len(),
        first_run.len() + second_run.len(),
        "queued twice"
    );
    // Rows 5..10 were stored by the crashed run and never queued: the replay job's to queue.
    let unqueued: Vec<Uuid> = rows
        .iter()
        .filter(|r| !queued.contains(&r.2))
        .map(|r| r.2)
        .collect();
    assert_eq!(
        unqueued,
        rows[5..10].iter().map(|r| r.2).collect::<Vec<_>>()
    );
    let replay: BTreeSet<Uuid> = app
        .state
        .db
        .created_for_replay(Duration::ZERO, None, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert!(unqueued.iter().all(|id| replay.contains(id)));
    assert_eq!(
        job_status(&app, &s, job_id).await,
        (JobStatus::Finished, 25)
    );
}

#[tokio::test]
async fn of_two_runs_at_once_one_claims_the_job() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let job_id = sms_job(&app.state, &s, sms_csv(&good_numbers(50)), 50).await;
    let each = settings(10);
    let (a, b) = tokio::join!(
        process_job_with(&app.state, job_id, &each),
        process_job_with(&app.state, job_id, &each),
    );
    let outcomes = [a.unwrap(), b.unwrap()];
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == ProcessOutcome::NotClaimed)
            .count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(job_rows(&app, job_id).await.len(), 50);
    assert_eq!(delivered_ids(&app).len(), 50);
}

#[tokio::test]
async fn a_job_over_the_daily_limit_is_refused_whole() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    // The service's limit is 1000 a day; 996 sent already, 5 more would make 1001.
    app.state
        .limiter
        .count_sent_many(s.service.id, LimitName::Sms, 996, app.state.now())
        .await;
    let job_id = sms_job(&app.state, &s, sms_csv(&good_numbers(5)), 5).await;
    assert_eq!(
        process_job(&app.state, job_id, BUDGET).await.unwrap(),
        ProcessOutcome::Refused(JobStatus::SendingLimitsExceeded)
    );
    assert!(job_rows(&app, job_id).await.is_empty());
    assert!(delivered_ids(&app).is_empty());
    let job = app
        .state
        .db
        .get_job(s.service.id, job_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.status.as_str(), "sending limits exceeded");
    assert!(job.processing_finished.is_some());

    // 4 fit exactly.
    let job_id = sms_job(&app.state, &s, sms_csv(&good_numbers(4)), 4).await;
    assert!(matches!(
        process_job(&app.state, job_id, BUDGET).await.unwrap(),
        ProcessOutcome::Finished { rows: 4, .. }
    ));
}

#[tokio::test]
async fn an_inactive_services_job_is_cancelled() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let job_id = sms_job(&app.state, &s, sms_csv(&good_numbers(3)), 3).await;
    observer(&app.database_url)
        .await
        .execute(
            "UPDATE services SET active = false WHERE id = $1",
            &[&s.service.id],
        )
        .await
        .unwrap();
    assert_eq!(
        process_job(&app.state, job_id, BUDGET).await.unwrap(),
        ProcessOutcome::Refused(JobStatus::Cancelled)
    );
    assert!(job_rows(&app, job_id).await.is_empty());
    assert_eq!(job_status(&app, &s, job_id).await.0, JobStatus::Cancelled);
}

#[tokio::test]
async fn a_trial_service_sends_only_to_its_team_and_guest_list() {
    let app = TestApp::new().await;
    let s = app.service(true).await;
    observer(&app.database_url)
        .await
        .execute(
            "INSERT INTO service_whitelist (id, service_id, recipient_type, recipient, created_at) \
             VALUES (gen_random_uuid(), $1, 'mobile', '07700900001', now())",
            &[&s.service.id],
        )
        .await
        .unwrap();
    let job_id = sms_job(&app.state, &s, sms_csv(&good_numbers(3)), 3).await;
    process_job(&app.state, job_id, BUDGET).await.unwrap();
    // Upstream skips a row a trial service may not send to: only the guest list's number (row 1) is stored.
    let rows = job_rows(&app, job_id).await;
    assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), [1]);
}

#[tokio::test]
async fn out_of_budget_the_job_goes_back_on_the_jobs_queue() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let job_id = sms_job(&app.state, &s, sms_csv(&good_numbers(5)), 5).await;
    let outcome = process_job_with(
        &app.state,
        job_id,
        &ProcessSettings {
            budget: Duration::ZERO,
            ..settings(2)
        },
    )
    .await
    .unwrap();
    assert_eq!(outcome, ProcessOutcome::Continued { rows_processed: 0 });
    assert_eq!(job_status(&app, &s, job_id).await, (JobStatus::Pending, 0));
    assert_eq!(
        app.queue.take_all(&app.state.config.queues.jobs),
        [Message::ProcessJob { v: 1, job_id }]
    );
    // The consumer picks it up and finishes it.
    let dispositions = notify_app::bulk::process::handle_jobs(
        &app.state,
        &[(
            Message::ProcessJob { v: 1, job_id },
            notify_app::workers::Attempt { number: 1, max: 5 },
        )],
        BUDGET,
    )
    .await;
    assert_eq!(dispositions, [notify_core::retry::Disposition::Done]);
    assert_eq!(job_status(&app, &s, job_id).await, (JobStatus::Finished, 5));
}

/// A file store and a queue that count the worker's open connections while they are called.
struct Watched<T> {
    inner: T,
    observer: tokio_postgres::Client,
    app_name: &'static str,
    worst: AtomicI64,
}

impl<T> Watched<T> {
    async fn look(&self) {
        let open = notify_tests::connections_held(&self.observer, self.app_name).await;
        self.worst.fetch_max(open, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl FileStore for Watched<Arc<dyn FileStore>> {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), FileError> {
        self.inner.put(key, bytes, content_type).await
    }
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, FileError> {
        self.look().await;
        self.inner.get(key).await
    }
    async fn delete(&self, key: &str) -> Result<(), FileError> {
        self.inner.delete(key).await
    }
    async fn put_with_metadata(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        metadata: &BTreeMap<String, String>,
    ) -> Result<(), FileError> {
        self.inner
            .put_with_metadata(key, bytes, content_type, metadata)
            .await
    }
    async fn metadata(&self, key: &str) -> Result<Option<BTreeMap<String, String>>, FileError> {
        self.inner.metadata(key).await
    }
}

#[async_trait::async_trait]
impl Queue for Watched<Arc<notify_queue::InProcessQueue>> {
    async fn send_delayed(
        &self,
        queue: &str,
        group: &str,
        message: &Message,
        delay: Duration,
    ) -> Result<(), QueueError> {
        self.look().await;
        self.inner.send_delayed(queue, group, message, delay).await
    }
    async fn send_batch(
        &self,
        queue: &str,
        messages: &[(String, Message)],
    ) -> Vec<(usize, QueueError)> {
        self.look().await;
        self.inner.send_batch(queue, messages).await
    }
}

#[tokio::test]
async fn no_connection_is_held_while_reading_the_file_or_queueing() {
    const APP_NAME: &str = "notify-jobs-worker-test";
    let mut app = TestApp::new().await;
    let s = app.service(false).await;
    let job_id = sms_job(&app.state, &s, sms_csv(&good_numbers(12)), 12).await;
    let files = Arc::new(Watched {
        inner: app.state.files.clone(),
        observer: observer(&app.database_url).await,
        app_name: APP_NAME,
        worst: AtomicI64::new(0),
    });
    let queue = Arc::new(Watched {
        inner: app.queue.clone(),
        observer: observer(&app.database_url).await,
        app_name: APP_NAME,
        worst: AtomicI64::new(0),
    });
    app.use_db(notify_db::Db::connect_short_lived(&app.database_url, 4, APP_NAME).unwrap());
    app.use_files(files.clone());
    app.use_queue(queue.clone());
    let outcome = process_job_with(&app.state, job_id, &settings(5))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        ProcessOutcome::Finished {
            rows: 12,
            queued: 12
        }
    );
    assert_eq!(
        files.worst.load(Ordering::SeqCst),
        0,
        "held across the read"
    );
    assert_eq!(queue.worst.load(Ordering::SeqCst), 0, "held across a send");
}

#[tokio::test]
async fn sqs_send_batch_sends_them_all_ten_to_a_call_each_in_its_group() {
    let client = notify_tests::sqs_client(&moto_url());
    let name = format!("jobs-batch-{}", Uuid::new_v4().simple());
    let url = client
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .expect("moto must be running (the test command starts it)")
        .queue_url
        .unwrap();
    let queue = SqsQueue::new(client.clone());
    let ids: Vec<Uuid> = (0..23).map(|_| Uuid::new_v4()).collect();
    let messages: Vec<(String, Message)> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (format!("group-{}", i % 2), Message::deliver(*id)))
        .collect();
    let failed = queue.send_batch(&name, &messages).await;
    assert!(failed.is_empty(), "{failed:?}");
    let mut received: BTreeMap<Uuid, String> = BTreeMap::new();
    for _ in 0..20 {
        let output = client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId,
            )
            .send()
            .await
            .unwrap();
        for m in output.messages.unwrap_or_default() {
            let message: Message = serde_json::from_str(m.body.as_deref().unwrap()).unwrap();
            let Message::Deliver {
                notification_id, ..
            } = message
            else {
                panic!("not a delivery");
            };
            let group = m
                .attributes
                .unwrap_or_default()
                .get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId)
                .cloned()
                .unwrap_or_default();
            received.insert(notification_id, group);
        }
        if received.len() == ids.len() {
            break;
        }
    }
    assert_eq!(received.len(), 23);
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(received[id], format!("group-{}", i % 2));
    }

    // A queue that does not exist: every message reported, by index.
    let failed = queue.send_batch("no-such-queue-here", &messages[..3]).await;
    assert_eq!(
        failed.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        [0, 1, 2]
    );
}

/// Ad hoc: `cargo test -p notify-tests --test api jobs_process::rows_per_second -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a measurement, not a test"]
async fn rows_per_second_for_a_100_000_row_job() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    observer(&app.database_url)
        .await
        .execute(
            "UPDATE services SET sms_message_limit = 1000000 WHERE id = $1",
            &[&s.service.id],
        )
        .await
        .unwrap();
    let n = 100_000;
    let csv = sms_csv(&good_numbers(n));
    // The CSV read and recipient parsing alone, for comparison with the whole run.
    let template = app
        .state
        .db
        .get_template(s.service.id, s.sms_template, None)
        .await
        .unwrap()
        .unwrap();
    let parse_started = std::time::Instant::now();
    let parsed = notify_core::recipient_csv::rows(
        &csv,
        &notify_app::bulk::process::csv_template(&template, &s.service),
        0,
    )
    .unwrap()
    .count();
    assert_eq!(parsed, n);
    println!(
        "parse alone: {:.2} s",
        parse_started.elapsed().as_secs_f64()
    );
    let job_id = sms_job(&app.state, &s, csv, n).await;
    let started = std::time::Instant::now();
    let outcome = process_job(&app.state, job_id, BUDGET).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(
        outcome,
        ProcessOutcome::Finished {
            rows: n as u32,
            queued: n
        }
    );
    println!(
        "{n} rows in {:.2} s: {:.0} rows/s",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(delivered_ids(&app).len(), n);
}
