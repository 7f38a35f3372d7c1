//! Render times of the sample letters on one thread, without building the whole `notify` CLI:
//! `cargo run --release -p notify-letters --example render_timing -- [one-page count] [ten-page count]`.
//! `notify bench letters` (infra/bench/src/letters.rs) measures the same letters the same way.

use std::time::{Duration, Instant};

use notify_letters::{Letter, LetterRenderer, PdfRenderer, samples};

fn time(renderer: &PdfRenderer, letter: &Letter, count: usize) {
    for _ in 0..count.div_ceil(10) {
        renderer.render(letter).expect("renders");
    }
    let mut times: Vec<Duration> = Vec::with_capacity(count);
    let started = Instant::now();
    let mut pages = 0;
    for _ in 0..count {
        let one = Instant::now();
        pages = renderer.render(letter).expect("renders").page_count;
        times.push(one.elapsed());
    }
    let elapsed = started.elapsed();
    times.sort();
    let at = |p: f64| {
        times[((count as f64 * p).ceil() as usize).clamp(1, count) - 1].as_secs_f64() * 1000.0
    };
    println!(
        "{pages} pages: {:.1} letters/s, p50 {:.2} ms, p99 {:.2} ms ({count} letters)",
        count as f64 / elapsed.as_secs_f64(),
        at(0.5),
        at(0.99)
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let one: usize = args.next().map_or(500, |n| n.parse().expect("a count"));
    let ten: usize = args.next().map_or(100, |n| n.parse().expect("a count"));
    let started = Instant::now();
    let renderer = PdfRenderer::new();
    println!(
        "renderer built in {:.1} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    time(&renderer, &samples::letter_of_pages(1), one);
    time(&renderer, &samples::letter_of_pages(10), ten);
}
