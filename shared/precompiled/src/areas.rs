//! Upstream's page geometry: A4 portrait within 2 mm, and the areas a service may print in. All lengths are
//! millimetres from the top left corner of the page as printed (after `/Rotate`).

use hayro::hayro_syntax::page::{Page, Rotation};

use crate::A4_TOLERANCE_MM;

pub const A4_WIDTH_MM: f64 = 210.0;
pub const A4_HEIGHT_MM: f64 = 297.0;
pub const MM_PER_POINT: f64 = 25.4 / 72.0;

/// A rectangle on the page, in millimetres from the top left corner.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Area {
    pub left: f64,
    pub top: f64,
    pub right: f64,
    pub bottom: f64,
}

impl Area {
    const fn new(left: f64, top: f64, right: f64, bottom: f64) -> Area {
        Area {
            left,
            top,
            right,
            bottom,
        }
    }

    /// Every side moved out by `mm`.
    pub const fn grown(self, mm: f64) -> Area {
        Area::new(
            self.left - mm,
            self.top - mm,
            self.right + mm,
            self.bottom + mm,
        )
    }

    pub fn contains(&self, x: f64, y: f64) -> bool {
        (self.left..=self.right).contains(&x) && (self.top..=self.bottom).contains(&y)
    }

    pub fn intersects(&self, other: &Area) -> bool {
        self.left <= other.right
            && other.left <= self.right
            && self.top <= other.bottom
            && other.top <= self.bottom
    }
}

const BORDER_LEFT: f64 = 15.0;
const BORDER_RIGHT: f64 = A4_WIDTH_MM - 15.0;
const BORDER_TOP: f64 = 5.0;
const BORDER_BOTTOM: f64 = A4_HEIGHT_MM - 5.0;
const BODY_TOP: f64 = 95.0;
const SERVICE_ADDRESS_LEFT: f64 = 125.0;
const LOGO_BOTTOM: f64 = 30.0;

/// The address window as upstream looks for the address (wider than DVLA's window, because upstream rewrites
/// the address there).
pub const ADDRESS_WINDOW: Area = Area::new(24.6, 39.5, 120.0, 66.3);

/// Where upstream reads the address: the window plus 3 mm all round.
pub const ADDRESS_SEARCH: Area = ADDRESS_WINDOW.grown(3.0);

/// Where upstream looks for the NOTIFY tag on every page: the top left corner.
pub const NOTIFY_TAG_BOX: Area = Area::new(0.0, 0.0, 15.191, 6.149);

/// Upstream's 1 mm of grace on every printable area, so anti-aliased text at a boundary is not a failure.
const GRACE: f64 = 1.0;

const FIRST_PAGE: [Area; 4] = [
    // the body
    Area::new(BORDER_LEFT, BODY_TOP, BORDER_RIGHT, BORDER_BOTTOM).grown(GRACE),
    // the service's address, from the top right corner down to the body
    Area::new(SERVICE_ADDRESS_LEFT, BORDER_TOP, BORDER_RIGHT, BODY_TOP).grown(GRACE),
    // the logo, above the address window
    Area::new(BORDER_LEFT, BORDER_TOP, SERVICE_ADDRESS_LEFT, LOGO_BOTTOM).grown(GRACE),
    ADDRESS_WINDOW.grown(GRACE),
];

const OTHER_PAGES: [Area; 1] =
    [Area::new(BORDER_LEFT, BORDER_TOP, BORDER_RIGHT, BORDER_BOTTOM).grown(GRACE)];

/// The areas page `number` (1-based) may carry ink in.
pub fn printable(number: u32) -> &'static [Area] {
    if number == 1 {
        &FIRST_PAGE
    } else {
        &OTHER_PAGES
    }
}

/// Upstream's rule: A4 within 2 mm, portrait as printed, so a landscape box passes only when `/Rotate` turns it
/// (90 or 270). Upstream measures the MediaBox; a CropBox that differs is what viewers and printers show, so it
/// must be A4 portrait too.
pub fn is_a4_portrait(page: &Page<'_>) -> bool {
    let turned = matches!(
        page.rotation(),
        Rotation::Horizontal | Rotation::FlippedHorizontal
    );
    let a4 = |rect: hayro::hayro_syntax::object::Rect| {
        let (width, height) = (
            rect.width().abs() * MM_PER_POINT,
            rect.height().abs() * MM_PER_POINT,
        );
        let (width, height) = if turned {
            (height, width)
        } else {
            (width, height)
        };
        (width - A4_WIDTH_MM).abs() <= A4_TOLERANCE_MM
            && (height - A4_HEIGHT_MM).abs() <= A4_TOLERANCE_MM
    };
    a4(page.media_box()) && a4(page.intersected_crop_box())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_page_allows_the_window_but_not_beside_it() {
        let inside = |x, y| FIRST_PAGE.iter().any(|a| a.contains(x, y));
        assert!(inside(50.0, 50.0), "the address window");
        assert!(inside(150.0, 50.0), "the service address");
        assert!(inside(50.0, 20.0), "the logo");
        assert!(inside(100.0, 200.0), "the body");
        assert!(!inside(18.0, 50.0), "left of the window");
        assert!(!inside(50.0, 80.0), "between the window and the body");
        assert!(!inside(10.0, 200.0), "the left margin");
        assert!(!inside(100.0, 2.0), "the top margin");
        assert!(inside(14.5, 200.0), "1 mm of grace");
    }
}
