//! `notify bench instructions`: CPU instructions per accepted send in the API process, counted by callgrind.
//!
//! The binary's `notify dev --no-workers --no-demo` runs under `valgrind --tool=callgrind` against a fresh
//! database; once it answers, a benchmark service, template and key are made (through the library, as
//! `bench sms` makes them, from this process, so their cost is not counted) and N sequential sends are posted,
//! each with a fresh JWT and each answered 201. The process is then stopped with SIGTERM, ends by returning
//! (graceful shutdown), and callgrind writes its totals. The same again with 4N sends; the difference divided by
//! 3N is the cost of one send with start-up, migrations, the first lookups and shutdown taken out.
//!
//! The lookup cache's TTL is raised for the measured process (`--lookup-cache-ms`): under callgrind a send takes
//! tens of milliseconds, so the default 2 s TTL would reload the service, template and sender every few dozen
//! sends, which at full speed happens once every few thousand.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use notify_app::AppState;
use notify_config::Config;
use serde_json::{Value, json};

use crate::sms::{bench_service, send_keyed};

#[derive(clap::Args)]
pub struct Options {
    /// The `notify` binary to measure; default this one.
    #[arg(long)]
    pub binary: Option<PathBuf>,
    /// A second `notify` binary measured in the same run, shown beside the first.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Sends in the short run; the long run makes 4× as many.
    #[arg(long, default_value_t = 200)]
    pub sends: usize,
    /// Whole measurements to make (each binary, short and long), to see the spread.
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
    /// Port of the measured `notify dev`.
    #[arg(long, default_value_t = 6019)]
    pub port: u16,
    /// The Postgres server on which each measurement creates, then drops, a fresh database.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    pub server: String,
    /// `LOOKUP_CACHE_MS` of the measured process (see the module's documentation).
    #[arg(long, default_value_t = 3_600_000)]
    pub lookup_cache_ms: u64,
    /// Seconds allowed for `notify dev` under callgrind to answer `GET /_status`.
    #[arg(long, default_value_t = 900)]
    pub startup_timeout: u64,
    /// Keep callgrind's files in this directory (default: a temporary one, removed afterwards).
    #[arg(long)]
    pub keep: Option<PathBuf>,
    /// Also print where one send's instructions go, from `callgrind_annotate` of the short and long runs
    /// (needs a binary with symbols: see BENCHMARKS.md).
    #[arg(long)]
    pub profile: bool,
    /// Functions listed in the profile.
    #[arg(long, default_value_t = 30)]
    pub top: usize,
    /// Every measured send with a fresh `Idempotency-Key` (compare with a run without: the key's cost in the API
    /// process, apart from the database's and Redis's).
    #[arg(long)]
    pub idempotency_key: bool,
}

struct Measured {
    instructions: u64,
    out_file: PathBuf,
    seconds: f64,
}

fn totals(path: &Path) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading callgrind output {}", path.display()))?;
    let find = |prefix: &str| {
        text.lines()
            .filter_map(|l| l.strip_prefix(prefix))
            .filter_map(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
            .next_back()
    };
    find("totals:")
        .or_else(|| find("summary:"))
        .with_context(|| {
            format!(
                "{} has no totals: callgrind did not finish writing it",
                path.display()
            )
        })
}

fn psql(server: &str, sql: &str) -> anyhow::Result<()> {
    let output = std::process::Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
        .arg(format!("{server}/postgres"))
        .args(["-c", sql])
        .output()
        .context("running psql (Debian package postgresql-client)")?;
    if !output.status.success() {
        bail!(
            "psql -c {sql}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

async fn answers(client: &reqwest::Client, url: &str) -> bool {
    matches!(client.get(url).timeout(Duration::from_secs(10)).send().await, Ok(r) if r.status().is_success())
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// One `notify dev` under callgrind on a fresh database, `sends` sends, stopped; the instructions it executed.
async fn measure(
    base: &Config,
    o: &Options,
    binary: &Path,
    label: &str,
    sends: usize,
    dir: &Path,
) -> anyhow::Result<Measured> {
    let database = format!(
        "bench_instructions_{}_{label}_{sends}_{}",
        std::process::id(),
        fastrand::u32(..)
    );
    notify_db::ensure_database(&format!("{}/postgres", o.server), &database).await?;
    let result = measure_on(base, o, binary, label, sends, dir, &database).await;
    if let Err(e) = psql(
        &o.server,
        &format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"),
    ) {
        eprintln!("warning: {e:#}");
    }
    result
}

async fn measure_on(
    base: &Config,
    o: &Options,
    binary: &Path,
    label: &str,
    sends: usize,
    dir: &Path,
    database: &str,
) -> anyhow::Result<Measured> {
    let database_url = format!("{}/{database}", o.server);
    let out_file = dir.join(format!(
        "callgrind.{label}.{sends}.{}.out",
        fastrand::u32(..)
    ));
    let log = dir.join(format!("notify-dev.{label}.{sends}.log"));
    let log_file = std::fs::File::create(&log)?;
    let started = Instant::now();
    let mut child = tokio::process::Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(binary)
        .args([
            "dev",
            "--no-workers",
            "--no-demo",
            "--port",
            &o.port.to_string(),
        ])
        .env("DATABASE_URL", &database_url)
        .env("LOOKUP_CACHE_MS", o.lookup_cache_ms.to_string())
        // The in-process queue, whatever the caller's environment: this measures the API process alone.
        .env_remove("SQS_ENDPOINT_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::from(log_file.try_clone()?))
        .stderr(Stdio::from(log_file))
        .kill_on_drop(true)
        .spawn()
        .context("starting valgrind (Debian package valgrind)")?;
    let pid = child.id().context("valgrind exited at once")?;
    let api = format!("http://127.0.0.1:{}", o.port);
    let probe = reqwest::Client::new();
    let deadline = started + Duration::from_secs(o.startup_timeout);
    while !answers(&probe, &format!("{api}/_status")).await {
        if let Some(status) = child.try_wait()? {
            bail!(
                "{} under callgrind exited ({status}) before answering:\n{}",
                binary.display(),
                log_tail(&log)
            );
        }
        if Instant::now() > deadline {
            bail!(
                "{} under callgrind did not answer within {} s:\n{}",
                binary.display(),
                o.startup_timeout,
                log_tail(&log)
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(probe);
    let sent = async {
        let mut config = base.clone();
        config.database.url = database_url.clone();
        config.queues.endpoint_url = None;
        let state = AppState::from_config(config, "notify-bench").await?;
        let target = bench_service(&state).await?;
        drop(state);
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()?;
        let url = format!("{api}/v2/notifications/sms");
        let body = json!({"phone_number": "07700900123", "template_id": target.template_id, "personalisation": {"name": "Bench", "code": "123456"}});
        for i in 0..sends {
            send_keyed(&client, &url, &target.key, &body, o.idempotency_key)
                .await
                .with_context(|| format!("send {} of {sends}", i + 1))?;
        }
        anyhow::Ok(())
    }
    .await;
    // SIGTERM: `notify dev` shuts down gracefully and returns; callgrind writes its file as the process exits.
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    if !signalled.success() {
        bail!("kill -TERM {pid} failed");
    }
    let status = tokio::time::timeout(Duration::from_secs(300), child.wait())
        .await
        .context("notify dev under callgrind did not exit within 300 s of SIGTERM")??;
    sent?;
    if !status.success() {
        bail!(
            "notify dev under callgrind exited with {status} after SIGTERM:\n{}",
            log_tail(&log)
        );
    }
    let instructions = totals(&out_file)?;
    Ok(Measured {
        instructions,
        out_file,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Callgrind's cost per function (exclusive, or inclusive), by name, from `callgrind_annotate`.
fn per_function(path: &Path, inclusive: bool) -> anyhow::Result<HashMap<String, u64>> {
    let output = std::process::Command::new("callgrind_annotate")
        .args([
            "--threshold=100",
            "--auto=no",
            "--show-percs=no",
            if inclusive {
                "--inclusive=yes"
            } else {
                "--inclusive=no"
            },
        ])
        .arg(path)
        .output()
        .context("running callgrind_annotate")?;
    if !output.status.success() {
        bail!(
            "callgrind_annotate: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let mut costs = HashMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let line = line.trim_start();
        let Some((count, rest)) = line.split_once(char::is_whitespace) else {
            continue;
        };
        let Ok(count) = count.replace(',', "").parse::<u64>() else {
            continue;
        };
        let rest = rest.trim();
        if rest == "PROGRAM TOTALS" {
            continue;
        }
        // `file:function [object]`
        let rest = match rest.rfind(" [") {
            Some(i) if rest.ends_with(']') => &rest[..i],
            _ => rest,
        };
        let function = rest.split_once(':').map_or(rest, |(_, f)| f);
        *costs.entry(without_hash(function).to_string()).or_default() += count;
    }
    Ok(costs)
}

/// `notify::auth::verify::h0123456789abcdef` → `notify::auth::verify`.
fn without_hash(name: &str) -> &str {
    match name.rsplit_once("::h") {
        Some((head, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            head
        }
        _ => name,
    }
}

/// The first path segment that names a crate: `<tokio_postgres::x::Y as core::...>::f` → `tokio_postgres`;
/// `core::ptr::drop_in_place<notify::a::B>` → `core`.
fn crate_of(name: &str) -> &str {
    let name = name.trim_start_matches(['<', '&', '*', '(', ' ']);
    let name = name
        .strip_prefix("mut ")
        .or_else(|| name.strip_prefix("dyn "))
        .or_else(|| name.strip_prefix("const "))
        .unwrap_or(name);
    let first = name.split("::").next().unwrap_or(name);
    // `<&str as nom::traits::FindToken<char>>::find_token`, `<F as axum::handler::Handler<..>>::call`: a
    // primitive or a type parameter implementing a crate's trait counts as that crate's.
    match first.split_once(" as ") {
        Some((_, trait_path)) => trait_path.trim_start_matches(['<', '&']),
        None => first,
    }
}

/// The group one send's instructions are summed in, by the function's crate (or its libc name).
pub(crate) fn group(name: &str) -> String {
    let krate = crate_of(name);
    let libc_alloc = [
        "malloc",
        "free",
        "realloc",
        "calloc",
        "_int_malloc",
        "_int_free",
        "_int_realloc",
        "malloc_consolidate",
        "unlink_chunk",
        "tcache",
        "__libc_malloc",
        "__libc_free",
        "__libc_realloc",
        "cfree",
        "__rust_alloc",
        "__rust_dealloc",
        "__rust_realloc",
        "__rdl_alloc",
        "__rdl_dealloc",
        "__rdl_realloc",
    ];
    if libc_alloc
        .iter()
        .any(|f| name == *f || name.starts_with(&format!("{f}.")))
        || name.starts_with("alloc::alloc::")
        || name.starts_with("alloc::raw_vec::")
        || name.starts_with("<alloc::raw_vec::")
    {
        return "allocation (malloc/free, Vec growth)".into();
    }
    if ["mem", "str", "__mem", "__str", "bcmp", "wmem"]
        .iter()
        .any(|p| name.starts_with(p))
        && !name.contains("::")
    {
        return "memcpy/memset/memcmp (libc)".into();
    }
    let g = match krate {
        "jsonwebtoken" | "hmac" | "sha2" | "digest" | "block_buffer" | "crypto_common" => {
            "JWT verify (jsonwebtoken, HMAC-SHA256)"
        }
        "base64" => "base64",
        "serde_json" | "serde" | "serde_core" | "serde_path_to_error" => "JSON (serde_json)",
        "aes_gcm" | "aes" | "ghash" | "polyval" | "ctr" | "cipher" | "aead" | "universal_hash" => {
            "encryption (AES-GCM)"
        }
        "pulldown_cmark" | "unicode_normalization" | "unicode_segmentation" => "template render",
        "phonenumber" | "regex" | "regex_automata" | "regex_syntax" | "aho_corasick"
        | "regex_cache" | "linked_hash_map" | "nom" | "fnv" | "quick_xml" | "itertools"
        | "strum" | "once_cell" => "phone number (phonenumber, regex)",
        "tokio_postgres" | "postgres_protocol" | "postgres_types" | "deadpool"
        | "deadpool_postgres" | "fallible_iterator" | "stringprep" => "tokio-postgres",
        "hyper" | "hyper_util" | "http" | "httparse" | "httpdate" | "axum" | "axum_core"
        | "tower" | "tower_layer" | "tower_service" | "tower_http" | "matchit" | "http_body"
        | "http_body_util" | "mime" | "form_urlencoded" | "percent_encoding" => {
            "HTTP (hyper, axum, http)"
        }
        "tokio" | "mio" | "futures_util" | "futures_core" | "futures_channel" | "futures"
        | "parking_lot" | "parking_lot_core" | "lock_api" | "pin_project_lite" | "slab"
        | "socket2" => "tokio runtime, futures",
        "tracing" | "tracing_core" | "tracing_subscriber" | "sharded_slab" | "matchers"
        | "nu_ansi_term" | "thread_local" => "tracing",
        "chrono" | "uuid" | "rand" | "rand_core" | "rand_chacha" | "getrandom" | "fastrand"
        | "ppv_lite86" => "ids, time, randomness",
        "bytes" => "bytes",
        "hashbrown" | "indexmap" | "smallvec" | "arrayvec" => "collections (hashbrown, ...)",
        own if own.starts_with("notify") => {
            let module = name
                .trim_start_matches(['<', '&'])
                .split("::")
                .nth(1)
                .unwrap_or("");
            return match (own, module) {
                (_, "templates") => "template render".into(),
                (_, "recipients") => "phone number (phonenumber, regex)".into(),
                (_, "auth") => "JWT verify (jsonwebtoken, HMAC-SHA256)".into(),
                (_, "crypto") => "encryption (AES-GCM)".into(),
                ("notify_db", _) | (_, "db") => "tokio-postgres".into(),
                _ => format!("{own}::{module} (own code)"),
            };
        }
        "core" | "alloc" | "std" => {
            if name.contains("core::hash::") {
                "hashing (core::hash SipHash: HashMap keys)"
            } else if name.contains("fmt") {
                "formatting (core::fmt)"
            } else {
                "core/alloc/std (generic: drops, clones, iterators)"
            }
        }
        _ if !name.contains("::") => "libc, loader and other C symbols",
        _ => return format!("other: {krate}"),
    };
    g.into()
}

fn per_send(
    long: &HashMap<String, u64>,
    short: &HashMap<String, u64>,
    extra: usize,
) -> Vec<(String, f64)> {
    let mut rows: Vec<(String, f64)> = long
        .iter()
        .map(|(name, &l)| {
            let s = short.get(name).copied().unwrap_or(0);
            (name.clone(), (l as f64 - s as f64) / extra as f64)
        })
        .filter(|(_, d)| *d > 0.5)
        .collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    rows
}

/// Steps of a send, found by the end of their function's path (inclusive cost: callees included, so they nest).
const STAGES: &[(&str, &str)] = &[
    (
        "whole HTTP/1.1 request (hyper dispatcher)",
        "hyper::proto::h1::dispatch::Dispatcher<D,Bs,I,T>::poll_catch",
    ),
    (
        "the handler (axum Handler::call)",
        "as axum::handler::Handler<(M,T1,T2,T3),S>>::call",
    ),
    (
        "authentication: V2Auth extractor",
        "V2Auth as axum_core::extract::FromRequestParts<notify_app::state::AppState>>::from_request_parts",
    ),
    (
        "authentication: V2Auth extractor (before the redesign)",
        "V2Auth as axum_core::extract::FromRequestParts<notify::state::AppState>>::from_request_parts",
    ),
    (
        "  JWT signature (jsonwebtoken verify_signature)",
        "jsonwebtoken::decoding::verify_signature",
    ),
    (
        "request JSON parse (serde_json from_trait)",
        "serde_json::de::from_trait",
    ),
    (
        "body schema validation (before the redesign)",
        "api::schema::validate",
    ),
    (
        "the accept pipeline (after the redesign)",
        "notifications::accept::accept",
    ),
    (
        "check_phone_format (before the redesign)",
        "notifications::check_phone_format",
    ),
    (
        "  each phone number parse (PhoneNumber::parse)",
        "recipients::phone::PhoneNumber::parse",
    ),
    ("template render", "templates::render"),
    ("persist and queue", "notifications::persist_and_queue"),
    (
        "persist and queue (after the redesign)",
        "notifications::accept::persist_and_queue",
    ),
    (
        "  INSERT (tokio-postgres execute_typed)",
        "tokio_postgres::client::Client::execute_typed",
    ),
    (
        "  personalisation encryption (Encryptor::encrypt)",
        "crypto::Encryptor::encrypt",
    ),
    (
        "log line (tracing-subscriber fmt event)",
        "tracing_subscriber::fmt::Subscriber<NEFW> as tracing_core::subscriber::Subscriber>::event",
    ),
];

/// Frames every request passes through, left out of the inclusive list so that it shows the work.
const PLUMBING: &[&str] = &[
    "tokio",
    "std",
    "core",
    "alloc",
    "hyper",
    "hyper_util",
    "axum",
    "axum_core",
    "tower",
    "tower_service",
    "futures_util",
    "futures_core",
    "start_thread",
    "main",
];

/// Where one send's instructions go: the short run's profile taken from the long run's, per function and per
/// group, divided by the extra sends.
fn profile(short: &Path, long: &Path, extra: usize, top: usize) -> anyhow::Result<Value> {
    let exclusive = per_send(
        &per_function(long, false)?,
        &per_function(short, false)?,
        extra,
    );
    let inclusive = per_send(
        &per_function(long, true)?,
        &per_function(short, true)?,
        extra,
    );
    let total: f64 = exclusive.iter().map(|(_, d)| d).sum();
    let mut groups: HashMap<String, f64> = HashMap::new();
    for (name, d) in &exclusive {
        *groups.entry(group(name)).or_default() += d;
    }
    let stages: Vec<Value> = STAGES
        .iter()
        .map(|(label, suffix)| {
            let found = inclusive.iter().find(|(name, _)| {
                name.ends_with(suffix) || name.contains(&format!("{suffix}::{{{{closure}}}}"))
            });
            json!({
                "name": label,
                "function": found.map(|(name, _)| name.clone()),
                "per_send": found.map(|(_, d)| d.round() as i64),
                "share": found.map(|(_, d)| (d / total * 1000.0).round() / 1000.0),
            })
        })
        .collect();
    let mut groups: Vec<(String, f64)> = groups.into_iter().collect();
    groups.sort_by(|a, b| b.1.total_cmp(&a.1));
    let row = |(name, d): &(String, f64)| json!({"name": name, "per_send": d.round() as i64, "share": (d / total * 1000.0).round() / 1000.0});
    Ok(json!({
        "per_send_exclusive_sum": total.round() as i64,
        "groups": groups.iter().map(row).collect::<Vec<_>>(),
        "top_exclusive": exclusive.iter().take(top).map(row).collect::<Vec<_>>(),
        "stages": stages,
        "top_inclusive": inclusive
            .iter()
            .filter(|(name, _)| !PLUMBING.contains(&crate_of(name)) && name.contains("::"))
            .take(top)
            .map(row)
            .collect::<Vec<_>>(),
    }))
}

/// `base` is the configuration the benchmark service is made with (its database is replaced per run).
pub async fn run(base: Config, o: Options) -> anyhow::Result<Value> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let current = std::env::current_exe()?;
    let mut binaries = vec![("binary", o.binary.clone().unwrap_or(current))];
    if let Some(baseline) = &o.baseline {
        binaries.push(("baseline", baseline.clone()));
    }
    for (_, b) in &binaries {
        if !b.is_file() {
            bail!("{} is not a file", b.display());
        }
    }
    let temporary = o.keep.is_none();
    let dir = o.keep.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("notify-bench-instructions-{}", std::process::id()))
    });
    std::fs::create_dir_all(&dir)?;
    let long_sends = o.sends * 4;
    let extra = long_sends - o.sends;
    let mut report = serde_json::Map::new();
    report.insert("idempotency_key".into(), json!(o.idempotency_key));
    for (label, binary) in &binaries {
        report.insert(
            (*label).into(),
            json!({"path": binary.display().to_string(), "runs": []}),
        );
    }
    for run in 1..=o.runs {
        // Alternating binaries within each run, so a drift in the machine touches both alike.
        for (label, binary) in &binaries {
            let short = measure(&base, &o, binary, label, o.sends, &dir).await?;
            let long = measure(&base, &o, binary, label, long_sends, &dir).await?;
            let slope = (long.instructions as f64 - short.instructions as f64) / extra as f64;
            eprintln!(
                "{label} run {run}: Ir({}) = {}, Ir({long_sends}) = {}, per send {:.0} ({:.0} s + {:.0} s)",
                o.sends, short.instructions, long.instructions, slope, short.seconds, long.seconds
            );
            let mut entry = json!({
                "run": run,
                "short_sends": o.sends,
                "long_sends": long_sends,
                "instructions_short": short.instructions,
                "instructions_long": long.instructions,
                "instructions_per_send": slope.round() as i64,
                "seconds": (short.seconds + long.seconds).round(),
            });
            if o.profile {
                entry["profile"] = profile(&short.out_file, &long.out_file, extra, o.top)?;
            }
            if !temporary {
                entry["callgrind_files"] = json!([short.out_file, long.out_file]);
            }
            report[*label]["runs"]
                .as_array_mut()
                .expect("runs")
                .push(entry);
        }
    }
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    for (label, _) in &binaries {
        let slopes: Vec<f64> = report[*label]["runs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["instructions_per_send"].as_f64())
            .collect();
        let mean = slopes.iter().sum::<f64>() / slopes.len().max(1) as f64;
        let spread = slopes.iter().copied().fold(f64::MIN, f64::max)
            - slopes.iter().copied().fold(f64::MAX, f64::min);
        report[*label]["mean_per_send"] = json!(mean.round() as i64);
        report[*label]["spread_share"] = json!((spread / mean * 10_000.0).round() / 10_000.0);
    }
    if let (Some(new), Some(old)) = (
        report["binary"]["mean_per_send"].as_f64(),
        report
            .get("baseline")
            .and_then(|b| b["mean_per_send"].as_f64()),
    ) {
        report.insert(
            "binary_over_baseline".into(),
            json!((new / old * 10_000.0).round() / 10_000.0),
        );
    }
    Ok(Value::Object(report))
}

fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// The report as a table (and the profile, when asked for).
pub fn text(v: &Value) -> String {
    let labels: Vec<&str> = ["binary", "baseline"]
        .into_iter()
        .filter(|l| v.get(*l).is_some())
        .collect();
    let mut out = format!(
        "Instructions per accepted POST /v2/notifications/sms{} in the API process (callgrind)\n",
        if v["idempotency_key"].as_bool() == Some(true) {
            " with a fresh Idempotency-Key"
        } else {
            ""
        }
    );
    for label in &labels {
        out.push_str(&format!(
            "  {label}: {}\n",
            v[*label]["path"].as_str().unwrap_or_default()
        ));
    }
    out.push_str(&format!(
        "{:<10} {:>4} {:>18} {:>18} {:>14}\n",
        "", "run", "Ir(N)", "Ir(4N)", "per send"
    ));
    let runs = v[labels[0]]["runs"].as_array().map_or(0, Vec::len);
    for i in 0..runs {
        for label in &labels {
            let r = &v[*label]["runs"][i];
            out.push_str(&format!(
                "{:<10} {:>4} {:>18} {:>18} {:>14}\n",
                label,
                r["run"],
                thousands(r["instructions_short"].as_i64().unwrap_or_default()),
                thousands(r["instructions_long"].as_i64().unwrap_or_default()),
                thousands(r["instructions_per_send"].as_i64().unwrap_or_default()),
            ));
        }
    }
    if let Some(first) = v[labels[0]]["runs"].get(0) {
        out.push_str(&format!(
            "N = {}; per send = (Ir(4N) - Ir(N)) / 3N\n",
            first["short_sends"]
        ));
    }
    for label in &labels {
        out.push_str(&format!(
            "{label}: mean {} per send, spread between runs {:.2}%\n",
            thousands(v[*label]["mean_per_send"].as_i64().unwrap_or_default()),
            v[*label]["spread_share"].as_f64().unwrap_or_default() * 100.0
        ));
    }
    if let Some(ratio) = v["binary_over_baseline"].as_f64() {
        out.push_str(&format!("binary / baseline: {ratio:.4}\n"));
    }
    for label in &labels {
        let Some(p) = v[*label]["runs"].get(0).map(|r| &r["profile"]) else {
            continue;
        };
        if p.is_null() {
            continue;
        }
        out.push_str(&format!(
            "\n{label}, run 1: one send's instructions by group (exclusive cost, summed: {})\n",
            thousands(p["per_send_exclusive_sum"].as_i64().unwrap_or_default())
        ));
        let table = |key: &str| -> String {
            p[key]
                .as_array()
                .into_iter()
                .flatten()
                .map(|row| {
                    format!(
                        "  {:>10} {:>6.1}%  {}\n",
                        thousands(row["per_send"].as_i64().unwrap_or_default()),
                        row["share"].as_f64().unwrap_or_default() * 100.0,
                        row["name"].as_str().unwrap_or_default()
                    )
                })
                .collect()
        };
        out.push_str(&table("groups"));
        out.push_str("steps (inclusive; indented ones are inside the one above):\n");
        for stage in p["stages"].as_array().into_iter().flatten() {
            out.push_str(&match stage["per_send"].as_i64() {
                Some(n) => format!(
                    "  {:>10} {:>6.1}%  {}\n",
                    thousands(n),
                    stage["share"].as_f64().unwrap_or_default() * 100.0,
                    stage["name"].as_str().unwrap_or_default()
                ),
                None => format!(
                    "  {:>10} {:>7}  {}\n",
                    "-",
                    "",
                    stage["name"].as_str().unwrap_or_default()
                ),
            });
        }
        out.push_str("top functions, exclusive (share of the exclusive sum):\n");
        out.push_str(&table("top_exclusive"));
        out.push_str("top functions, inclusive (share of the exclusive sum):\n");
        out.push_str(&table("top_inclusive"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_rust_and_libc_symbols() {
        assert_eq!(
            group("<tokio_postgres::client::Client as core::fmt::Debug>::fmt"),
            "tokio-postgres"
        );
        assert_eq!(
            group("<&str as nom::traits::FindToken<char>>::find_token"),
            "phone number (phonenumber, regex)"
        );
        assert_eq!(
            group("<F as axum::handler::Handler<(M,T1),S>>::call"),
            "HTTP (hyper, axum, http)"
        );
        assert_eq!(group("_int_malloc"), "allocation (malloc/free, Vec growth)");
        assert_eq!(
            group("__memcpy_avx_unaligned_erms"),
            "memcpy/memset/memcmp (libc)"
        );
        assert_eq!(group("notify_core::templates::render"), "template render");
        assert_eq!(group("notify::templates::render"), "template render");
        assert_eq!(
            group("notify_http::v2::post_sms::{{closure}}"),
            "notify_http::v2 (own code)"
        );
        assert_eq!(
            without_hash("notify::auth::verify::h0123456789abcdef"),
            "notify::auth::verify"
        );
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(520_000), "520,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(-1_234_567), "-1,234,567");
    }
}
