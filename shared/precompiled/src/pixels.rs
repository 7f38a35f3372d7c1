//! Ink outside the printable areas: the page rasterised on white, then any pixel that is not pure white whose
//! centre lies outside every area (upstream's test, on its 200 dpi render, is the same "not (255, 255, 255)").

use hayro::hayro_interpret::InterpreterSettings;
use hayro::hayro_syntax::page::Page;
use hayro::vello_cpu::color::palette::css::WHITE;
use hayro::{PixmapSettings, RenderCache, RenderSettings};

use crate::areas::{Area, MM_PER_POINT};

pub fn has_ink_outside(page: &Page<'_>, printable: &[Area], pixels_per_point: f32) -> bool {
    let cache = RenderCache::new();
    let pixmap = hayro::render(
        page,
        &cache,
        &InterpreterSettings::default(),
        &RenderSettings::default(),
        &PixmapSettings {
            x_scale: pixels_per_point,
            y_scale: pixels_per_point,
            bg_color: WHITE,
        },
    );
    let (width, height) = (usize::from(pixmap.width()), usize::from(pixmap.height()));
    let mm_per_pixel = MM_PER_POINT / f64::from(pixels_per_point);
    let data = pixmap.data();
    let mut allowed: Vec<(f64, f64)> = Vec::with_capacity(printable.len());
    for (py, row) in data.chunks_exact(width).take(height).enumerate() {
        let y = (py as f64 + 0.5) * mm_per_pixel;
        allowed.clear();
        allowed.extend(
            printable
                .iter()
                .filter(|a| (a.top..=a.bottom).contains(&y))
                .map(|a| (a.left, a.right)),
        );
        let outside = row.iter().enumerate().any(|(px, pixel)| {
            let white = pixel.r == 255 && pixel.g == 255 && pixel.b == 255;
            if white {
                return false;
            }
            let x = (px as f64 + 0.5) * mm_per_pixel;
            !allowed
                .iter()
                .any(|(left, right)| (*left..=*right).contains(&x))
        });
        if outside {
            return true;
        }
    }
    false
}
