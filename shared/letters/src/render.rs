//! The laid-out pages drawn as a PDF with krilla: fonts embedded as subsets, black text as DeviceGray, the QR
//! codes as filled squares, the logo as an image (PNG) or vector drawing (SVG).

use std::sync::Arc;

use krilla::color::luma;
use krilla::geom::{PathBuilder, Point, Rect, Size, Transform};
use krilla::image::Image;
use krilla::page::PageSettings;
use krilla::paint::{Fill, FillRule};
use krilla::surface::Surface;
use krilla::{Document, SerializeSettings};
use krilla_svg::{SurfaceExt, SvgSettings};
use usvg::fontdb;

use crate::fonts::{self, Fonts};
use crate::layout::{
    self, Item, LOGO_HEIGHT, LOGO_LEFT, LOGO_TOP, LOGO_WIDTH, PAGE_HEIGHT, PAGE_WIDTH,
};
use crate::{Letter, LetterRenderer, Logo, RenderError, RenderedLetter};

/// Renders letters to print-ready A4 PDFs. Build one and keep it: it parses the fonts once.
pub struct PdfRenderer {
    fonts: Fonts,
    /// Fonts for text in SVG logos: only ours, so a logo never makes the renderer look for system fonts.
    svg_fonts: Arc<fontdb::Database>,
}

impl Default for PdfRenderer {
    fn default() -> Self {
        Self::new()
    }
}

enum LoadedLogo {
    Png(Image, Size),
    Svg(Box<usvg::Tree>, Size),
}

impl PdfRenderer {
    pub fn new() -> PdfRenderer {
        let mut db = fontdb::Database::new();
        db.load_font_data(fonts::REGULAR.to_vec());
        db.load_font_data(fonts::BOLD.to_vec());
        db.set_sans_serif_family("Liberation Sans");
        PdfRenderer {
            fonts: Fonts::new(),
            svg_fonts: Arc::new(db),
        }
    }

    /// The logo scaled to fit its 70 × 18 mm box, keeping its proportions: a PNG at its CSS size (96 pixels an
    /// inch) unless that is too big, an SVG as tall as the box unless that makes it too wide.
    fn load_logo(&self, logo: &Logo) -> Result<LoadedLogo, RenderError> {
        match logo {
            Logo::Png(bytes) => {
                let image =
                    Image::from_png(bytes.clone().into(), true).map_err(RenderError::Logo)?;
                let (w, h) = image.size();
                let (w, h) = (w as f32 * 0.75, h as f32 * 0.75);
                let scale = (LOGO_WIDTH / w).min(LOGO_HEIGHT / h).min(1.0);
                let size = Size::from_wh(w * scale, h * scale)
                    .ok_or_else(|| RenderError::Logo("the PNG has no size".into()))?;
                Ok(LoadedLogo::Png(image, size))
            }
            Logo::Svg(bytes) => {
                let options = usvg::Options {
                    font_family: "Liberation Sans".into(),
                    fontdb: self.svg_fonts.clone(),
                    // Only images inside the SVG itself: a path or URL would mean reading files at render time.
                    image_href_resolver: usvg::ImageHrefResolver {
                        resolve_data: usvg::ImageHrefResolver::default_data_resolver(),
                        resolve_string: Box::new(|_, _| None),
                    },
                    ..usvg::Options::default()
                };
                let tree = usvg::Tree::from_data(bytes, &options)
                    .map_err(|e| RenderError::Logo(e.to_string()))?;
                let (w, h) = (tree.size().width(), tree.size().height());
                let scale = (LOGO_HEIGHT / h).min(LOGO_WIDTH / w);
                let size = Size::from_wh(w * scale, h * scale)
                    .ok_or_else(|| RenderError::Logo("the SVG has no size".into()))?;
                Ok(LoadedLogo::Svg(Box::new(tree), size))
            }
        }
    }

    fn draw_logo(surface: &mut Surface, logo: &LoadedLogo) {
        match logo {
            LoadedLogo::Png(image, size) => {
                surface.push_transform(&Transform::from_translate(LOGO_LEFT, LOGO_TOP));
                surface.draw_image(image.clone(), *size);
                surface.pop();
            }
            LoadedLogo::Svg(tree, size) => {
                // `preserveAspectRatio` meets the box: a logo too wide for it sits in its middle.
                let y = LOGO_TOP + (LOGO_HEIGHT - size.height()) / 2.0;
                surface.push_transform(&Transform::from_translate(LOGO_LEFT, y));
                surface.draw_svg(tree, *size, SvgSettings::default());
                surface.pop();
            }
        }
    }
}

impl LetterRenderer for PdfRenderer {
    fn render(&self, letter: &Letter) -> Result<RenderedLetter, RenderError> {
        let logo = letter
            .logo
            .as_ref()
            .map(|logo| self.load_logo(logo))
            .transpose()?;
        let pages = layout::layout(&self.fonts, letter)?;

        let mut document = Document::new_with(SerializeSettings {
            // The letter carries no dates or identifiers of its own beyond what is printed.
            xmp_metadata: false,
            ..SerializeSettings::default()
        });
        let settings = PageSettings::from_wh(PAGE_WIDTH, PAGE_HEIGHT).expect("A4 is a page size");
        let black = Fill {
            paint: luma::Color::black().into(),
            ..Fill::default()
        };
        let white = Fill {
            paint: luma::Color::white().into(),
            ..Fill::default()
        };
        for page_layout in &pages {
            let mut page = document.start_page_with(settings.clone());
            let mut surface = page.surface();
            for item in &page_layout.items {
                match item {
                    Item::Text(run) => {
                        let face = self.fonts.face(run.bold);
                        let glyphs = face.glyphs(&run.text, run.size);
                        surface.set_fill(Some(if run.white {
                            white.clone()
                        } else {
                            black.clone()
                        }));
                        surface.draw_glyphs(
                            Point::from_xy(run.x, run.baseline),
                            &glyphs,
                            face.font.clone(),
                            &run.text,
                            run.size,
                            false,
                        );
                    }
                    Item::Qr { x, y, code } => {
                        let mut path = PathBuilder::new();
                        for (x, y, w, h) in layout::qr_rects(code, *x, *y) {
                            if let Some(rect) = Rect::from_xywh(x, y, w, h) {
                                path.push_rect(rect);
                            }
                        }
                        if let Some(path) = path.finish() {
                            surface.set_fill(Some(Fill {
                                rule: FillRule::NonZero,
                                ..black.clone()
                            }));
                            surface.draw_path(&path);
                        }
                    }
                    Item::Logo => {
                        if let Some(logo) = &logo {
                            Self::draw_logo(&mut surface, logo);
                        }
                    }
                }
            }
            surface.finish();
            page.finish();
        }
        let pdf = document
            .finish()
            .map_err(|e| RenderError::Pdf(format!("{e:?}")))?;
        Ok(RenderedLetter {
            pdf,
            page_count: pages.len() as u32,
        })
    }
}
