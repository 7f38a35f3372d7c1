//! `notify bench letters`: letters rendered to PDF per second on one thread, with p50/p99 render times, for
//! the fixed one-page and ten-page sample letters (`notify_letters::samples`). The renderer is built once, as
//! the letters function builds it once per process; that build is timed on its own.
//!
//! One thread is one core's work; `taskset -c 0 notify bench letters` also keeps it on one core.

use std::time::{Duration, Instant};

use notify_letters::{Letter, LetterRenderer, PdfRenderer, samples};
use serde::Serialize;
use serde_json::{Value, json};

#[derive(clap::Args, Clone, Debug)]
pub struct Options {
    /// One-page letters to render (after a warm-up of a tenth as many).
    #[arg(long, default_value_t = 500)]
    pub one_page: usize,
    /// Ten-page letters to render.
    #[arg(long, default_value_t = 100)]
    pub ten_page: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct RenderThroughput {
    pub pages: u32,
    pub letters: usize,
    pub letters_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub pdf_bytes: usize,
}

/// Renders `count` copies of `letter` one after another on this thread and times each.
pub fn render_throughput(
    renderer: &PdfRenderer,
    letter: &Letter,
    count: usize,
) -> anyhow::Result<RenderThroughput> {
    anyhow::ensure!(count > 0, "nothing to render");
    for _ in 0..count.div_ceil(10) {
        renderer.render(letter)?;
    }
    let mut times = Vec::with_capacity(count);
    let mut last = None;
    let started = Instant::now();
    for _ in 0..count {
        let one = Instant::now();
        let rendered = renderer.render(letter)?;
        times.push(one.elapsed());
        last = Some(rendered);
    }
    let elapsed = started.elapsed();
    let rendered = last.expect("count > 0");
    times.sort();
    Ok(RenderThroughput {
        pages: rendered.page_count,
        letters: count,
        letters_per_second: count as f64 / elapsed.as_secs_f64(),
        p50_ms: ms(percentile(&times, 0.50)),
        p99_ms: ms(percentile(&times, 0.99)),
        max_ms: ms(*times.last().expect("count > 0")),
        pdf_bytes: rendered.pdf.len(),
    })
}

/// The single-thread benchmarks' statistics (letters rendered, precompiled letters checked): unrounded, since
/// a check takes a few milliseconds.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn run(o: &Options) -> anyhow::Result<Value> {
    let started = Instant::now();
    let renderer = PdfRenderer::new();
    let build_ms = ms(started.elapsed());
    let one = render_throughput(&renderer, &samples::letter_of_pages(1), o.one_page)?;
    let ten = render_throughput(&renderer, &samples::letter_of_pages(10), o.ten_page)?;
    Ok(json!({
        "threads": 1,
        "renderer_build_ms": build_ms,
        "one_page": one,
        "ten_page": ten,
        "goal_one_page_letters_per_second": 50,
    }))
}

pub fn text(v: &Value) -> String {
    let line = |label: &str, r: &Value| {
        format!(
            "{label} ({} pages, {} letters, {} bytes each): {:.1} letters/s on one thread, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            r["pages"],
            r["letters"],
            r["pdf_bytes"],
            r["letters_per_second"].as_f64().unwrap_or_default(),
            r["p50_ms"].as_f64().unwrap_or_default(),
            r["p99_ms"].as_f64().unwrap_or_default(),
            r["max_ms"].as_f64().unwrap_or_default(),
        )
    };
    format!(
        "renderer built in {:.1} ms\n{}\n{}",
        v["renderer_build_ms"].as_f64().unwrap_or_default(),
        line("one-page letter", &v["one_page"]),
        line("ten-page letter", &v["ten_page"]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throughput_of_a_few_letters() {
        let renderer = PdfRenderer::new();
        let result = render_throughput(&renderer, &samples::letter_of_pages(1), 3).unwrap();
        assert_eq!(result.pages, 1);
        assert_eq!(result.letters, 3);
        assert!(result.letters_per_second > 0.0);
        assert!(result.p50_ms <= result.p99_ms && result.p99_ms <= result.max_ms);
        assert!(result.pdf_bytes > 1000);
    }

    #[test]
    fn percentiles_by_rank() {
        let times: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&times, 0.5), Duration::from_millis(50));
        assert_eq!(percentile(&times, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&times[..1], 0.99), Duration::from_millis(1));
    }
}
