//! The database pools' failures in this process (acquire timeouts, refused connects), as the benchmarks report
//! them: counted from the `DatabaseConnectionFailures` metric that `notify_db` emits on each, captured here
//! instead of written to stdout.

use std::io::Write;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

const METRIC: &str = "DatabaseConnectionFailures";

/// Every metric of the process goes here once a benchmark has started counting; only the pool failures are read.
struct Counter(Arc<AtomicU64>);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // One EMF document per write; the metric's name appears in no other.
        let needle = METRIC.as_bytes();
        if buf.windows(needle.len()).any(|w| w == needle)
            && let Ok(doc) = serde_json::from_slice::<serde_json::Value>(buf)
        {
            let n = doc[METRIC].as_f64().unwrap_or(0.0);
            self.0.fetch_add(n as u64, Ordering::Relaxed);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

static COUNT: OnceLock<Arc<AtomicU64>> = OnceLock::new();

/// Pool failures counted so far. The first call starts counting: make it before anything emits a metric (a
/// process that already writes its metrics to stdout, with `METRICS_NAMESPACE` set, counts none).
pub fn so_far() -> u64 {
    COUNT
        .get_or_init(|| {
            let count = Arc::new(AtomicU64::new(0));
            notify_core::metrics::capture("NotifyBench", Counter(count.clone()));
            count
        })
        .load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    /// Nothing listens on this port (the range is this worktree's): every connect is refused.
    const NOWHERE: &str = "postgres://postgres@127.0.0.1:6599/nowhere";

    #[tokio::test]
    async fn a_refused_connect_counts_once() {
        let before = super::so_far();
        let db = notify_db::Db::connect(NOWHERE, 1, "notify-bench-test").unwrap();
        assert!(db.check_connection().await.is_err());
        assert_eq!(super::so_far() - before, 1);
    }
}
