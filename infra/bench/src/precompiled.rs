//! `notify bench precompiled`: precompiled letters checked per second on one thread (every print check, the
//! address read and the NOTIFY tag stamped: `notify_precompiled::check`), for a one-page and a ten-page clean
//! letter from `notify_precompiled::samples`, at the checks' own resolution and, for comparison, at upstream's
//! 200 dpi.
//!
//! One thread is one core's work; `taskset -c 0 notify bench precompiled` also keeps it on one core.

use std::time::Instant;

use crate::letters::{ms, percentile};
use notify_precompiled::{PIXELS_PER_POINT, check_at, samples};
use serde::Serialize;
use serde_json::{Value, json};

/// Upstream renders with pdf2image's default, 200 dots an inch.
const UPSTREAM_PIXELS_PER_POINT: f32 = 200.0 / 72.0;

#[derive(clap::Args, Clone, Debug)]
pub struct Options {
    /// One-page letters to check (after a warm-up of a tenth as many).
    #[arg(long, default_value_t = 200)]
    pub one_page: usize,
    /// Ten-page letters to check.
    #[arg(long, default_value_t = 30)]
    pub ten_page: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct CheckThroughput {
    pub pages: u32,
    pub pixels_per_point: f32,
    pub letters: usize,
    pub letters_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub pdf_bytes: usize,
}

/// Checks `count` copies of `pdf` one after another on this thread and times each.
pub fn check_throughput(
    pdf: &[u8],
    pixels_per_point: f32,
    count: usize,
) -> anyhow::Result<CheckThroughput> {
    anyhow::ensure!(count > 0, "nothing to check");
    let checked = |pdf: &[u8]| {
        check_at(pdf, pixels_per_point)
            .map_err(|invalid| anyhow::anyhow!("the sample failed its checks: {invalid}"))
    };
    for _ in 0..count.div_ceil(10) {
        checked(pdf)?;
    }
    let mut times = Vec::with_capacity(count);
    let mut pages = 0;
    let started = Instant::now();
    for _ in 0..count {
        let one = Instant::now();
        pages = checked(pdf)?.page_count;
        times.push(one.elapsed());
    }
    let elapsed = started.elapsed();
    times.sort();
    Ok(CheckThroughput {
        pages,
        pixels_per_point,
        letters: count,
        letters_per_second: count as f64 / elapsed.as_secs_f64(),
        p50_ms: ms(percentile(&times, 0.50)),
        p99_ms: ms(percentile(&times, 0.99)),
        max_ms: ms(*times.last().expect("count > 0")),
        pdf_bytes: pdf.len(),
    })
}

pub fn run(o: &Options) -> anyhow::Result<Value> {
    let one_pdf = samples::letter(samples::ADDRESS, 1);
    let ten_pdf = samples::letter(samples::ADDRESS, 10);
    let one = check_throughput(&one_pdf, PIXELS_PER_POINT, o.one_page)?;
    let ten = check_throughput(&ten_pdf, PIXELS_PER_POINT, o.ten_page)?;
    let fewer = |n: usize| n.div_ceil(4);
    let one_upstream = check_throughput(&one_pdf, UPSTREAM_PIXELS_PER_POINT, fewer(o.one_page))?;
    let ten_upstream = check_throughput(&ten_pdf, UPSTREAM_PIXELS_PER_POINT, fewer(o.ten_page))?;
    Ok(json!({
        "threads": 1,
        "one_page": one,
        "ten_page": ten,
        "one_page_at_200_dpi": one_upstream,
        "ten_page_at_200_dpi": ten_upstream,
    }))
}

pub fn text(v: &Value) -> String {
    let line = |label: &str, r: &Value| {
        format!(
            "{label} ({} pages, {} letters, {} bytes, {:.2} px/pt): {:.1} letters/s on one thread, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            r["pages"],
            r["letters"],
            r["pdf_bytes"],
            r["pixels_per_point"].as_f64().unwrap_or_default(),
            r["letters_per_second"].as_f64().unwrap_or_default(),
            r["p50_ms"].as_f64().unwrap_or_default(),
            r["p99_ms"].as_f64().unwrap_or_default(),
            r["max_ms"].as_f64().unwrap_or_default(),
        )
    };
    [
        line("one-page letter", &v["one_page"]),
        line("ten-page letter", &v["ten_page"]),
        line(
            "one-page letter at upstream's 200 dpi",
            &v["one_page_at_200_dpi"],
        ),
        line(
            "ten-page letter at upstream's 200 dpi",
            &v["ten_page_at_200_dpi"],
        ),
    ]
    .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throughput_of_a_few_letters() {
        let pdf = samples::letter(samples::ADDRESS, 2);
        let result = check_throughput(&pdf, PIXELS_PER_POINT, 2).unwrap();
        assert_eq!(result.pages, 2);
        assert_eq!(result.letters, 2);
        assert!(result.letters_per_second > 0.0);
        assert!(result.p50_ms <= result.p99_ms && result.p99_ms <= result.max_ms);
    }

    #[test]
    fn a_letter_that_fails_is_not_timed_as_checked() {
        assert!(check_throughput(&samples::a3(), PIXELS_PER_POINT, 1).is_err());
    }
}
