//! Where everything on a letter's pages goes, in points from the page's top left corner, following upstream's
//! print stylesheet (notifications-utils `jinja_templates/letter_pdf/_main_css.jinja2`) as WeasyPrint lays
//! it out. Upstream positions the address and contact blocks from the bottom of the first page's page area
//! (A4 less the 10 mm top and 15 mm bottom margins); the values below are those, measured from the page's top.

use qrcode::{EcLevel, QrCode};

use crate::date::letter_date;
use crate::fonts::{Face, Fonts};
use crate::markdown::{self, Block, Inline};
use crate::{Language, Letter, LetterPart, MAX_QR_BYTES, RenderError};

pub const MM: f32 = 72.0 / 25.4;
pub const PAGE_WIDTH: f32 = 210.0 * MM;
pub const PAGE_HEIGHT: f32 = 297.0 * MM;

const LEFT: f32 = 15.0 * MM;
const RIGHT: f32 = PAGE_WIDTH - 10.0 * MM;
const TOP: f32 = 15.0 * MM;
const FIRST_PAGE_TOP: f32 = 10.0 * MM;
/// Where flowing text must end: the 15 mm bottom margin holds only the page number.
pub const FLOW_BOTTOM: f32 = PAGE_HEIGHT - 15.0 * MM;
/// The body's 94 mm top padding inside the first page's 10 mm margin: text starts below the address window
/// and the contact block.
const FIRST_PAGE_BODY_TOP: f32 = FIRST_PAGE_TOP + 94.0 * MM;
pub const CONTENT_WIDTH: f32 = 137.5 * MM;

pub const LOGO_LEFT: f32 = LEFT;
pub const LOGO_TOP: f32 = FIRST_PAGE_TOP;
pub const LOGO_WIDTH: f32 = 70.0 * MM;
pub const LOGO_HEIGHT: f32 = 18.0 * MM;

/// The envelope window's address block: `left: 9.6mm; bottom: 215.8mm` in the page area.
pub const ADDRESS_LEFT: f32 = LEFT + 9.6 * MM;
pub const ADDRESS_BOTTOM: f32 = PAGE_HEIGHT - 15.0 * MM - 215.8 * MM;
pub const ADDRESS_WIDTH: f32 = 85.0 * MM;
const ADDRESS_MAX_HEIGHT: f32 = 26.7 * MM;
const ADDRESS_SIZE: f32 = 8.0;
const ADDRESS_LINE_HEIGHT: f32 = 8.5;

/// `#from`: `right: 0; bottom: 199.8mm; width: 71.2mm; max-height: 132pt`.
const CONTACT_BOTTOM: f32 = PAGE_HEIGHT - 15.0 * MM - 199.8 * MM;
const CONTACT_WIDTH: f32 = 71.2 * MM;
const CONTACT_MAX_HEIGHT: f32 = 132.0;
const CONTACT_SIZE: f32 = 10.0;
const CONTACT_LINE_HEIGHT: f32 = 12.0;

const BODY_SIZE: f32 = 12.5;
const BODY_LINE_HEIGHT: f32 = 16.0;
const H1_SIZE: f32 = 20.0;
const H1_LINE_HEIGHT: f32 = 23.4;
const H2_SIZE: f32 = 14.0;
const H2_LINE_HEIGHT: f32 = 17.4;
const PAGE_NUMBER_SIZE: f32 = 10.0;
/// `.qrcode`: 5.25 body lines square, 1.25 lines above and 1.5 below, centred.
const QR_SIDE: f32 = BODY_LINE_HEIGHT * 5.25;
const QR_MARGIN_TOP: f32 = BODY_LINE_HEIGHT * 1.25;
const QR_MARGIN_BOTTOM: f32 = BODY_LINE_HEIGHT * 1.5;

/// Text on one line in one font.
#[derive(Clone, Debug)]
pub struct Run {
    pub x: f32,
    pub baseline: f32,
    pub size: f32,
    pub bold: bool,
    pub white: bool,
    pub text: String,
}

pub enum Item {
    Text(Run),
    Qr { x: f32, y: f32, code: Box<QrCode> },
    Logo,
}

#[derive(Default)]
pub struct Page {
    pub items: Vec<Item>,
}

/// A QR code drawn as filled squares: dark module rows as (x, y, width, height) in points.
pub fn qr_rects(code: &QrCode, x: f32, y: f32) -> Vec<(f32, f32, f32, f32)> {
    let width = code.width();
    let module = QR_SIDE / width as f32;
    let colors = code.to_colors();
    let mut rects = Vec::new();
    for row in 0..width {
        let mut col = 0;
        while col < width {
            if colors[row * width + col] == qrcode::Color::Dark {
                let start = col;
                while col < width && colors[row * width + col] == qrcode::Color::Dark {
                    col += 1;
                }
                rects.push((
                    x + start as f32 * module,
                    y + row as f32 * module,
                    (col - start) as f32 * module,
                    module,
                ));
            } else {
                col += 1;
            }
        }
    }
    rects
}

/// Every page of the letter: each part laid out as a whole letter, as upstream renders each language on its
/// own and joins the PDFs (so the English part of a bilingual letter has its own first page and numbering).
pub fn layout(fonts: &Fonts, letter: &Letter) -> Result<Vec<Page>, RenderError> {
    let mut pages = Vec::new();
    for (index, part) in letter.parts.iter().enumerate() {
        pages.extend(layout_part(fonts, letter, part, index == 0)?);
    }
    if pages.is_empty() {
        return Err(RenderError::Pdf("the letter has no parts".into()));
    }
    Ok(pages)
}

fn layout_part(
    fonts: &Fonts,
    letter: &Letter,
    part: &LetterPart,
    first_of_letter: bool,
) -> Result<Vec<Page>, RenderError> {
    let blocks = markdown::parse(&part.body);
    if blocks
        .iter()
        .any(|block| matches!(block, Block::Qr(data) if data.len() > MAX_QR_BYTES))
    {
        return Err(RenderError::QrCodeTooLong);
    }

    let mut first = Page::default();
    if first_of_letter {
        // Upstream's print stylesheet puts a white `NOTIFY` in the top left corner box of the letter's first
        // page (15 mm by 10 mm, text right-aligned and centred vertically).
        let face = &fonts.regular;
        let size = 6.0;
        first.items.push(Item::Text(Run {
            x: LEFT - face.width("NOTIFY", size),
            baseline: FIRST_PAGE_TOP / 2.0 - (face.ascent + face.descent) * size / 2.0
                + face.ascent * size,
            size,
            bold: false,
            white: true,
            text: "NOTIFY".into(),
        }));
    }
    if letter.logo.is_some() {
        first.items.push(Item::Logo);
    }
    address_block(fonts, &letter.address_lines, &mut first);
    if let Some(contact) = &letter.contact_block {
        contact_block(fonts, contact, &mut first);
    }

    let mut flow = Flow {
        fonts,
        pages: vec![first],
        y: FIRST_PAGE_BODY_TOP,
        margin: 0.0,
        at_top: true,
        breaks: 0,
    };
    let body = Style {
        size: BODY_SIZE,
        line_height: BODY_LINE_HEIGHT,
        bold: false,
    };
    let h1 = Style {
        size: H1_SIZE,
        line_height: H1_LINE_HEIGHT,
        bold: true,
    };
    let h2 = Style {
        size: H2_SIZE,
        line_height: H2_LINE_HEIGHT,
        bold: true,
    };

    let date = letter_date(letter.date, part.language);
    flow.paragraph(&plain(&date), body, 0.0, BODY_LINE_HEIGHT, 4);
    let subject = markdown::typography(
        &part
            .subject
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
    );
    let mut after_subject = false;
    if !subject.is_empty() {
        flow.heading(&plain(&subject), h1, 18.16, 7.68);
        after_subject = true;
    }
    for block in &blocks {
        match block {
            Block::Heading(text) => {
                let margin_top = if after_subject { 8.35 } else { 0.0 };
                flow.heading(text, h2, margin_top, BODY_LINE_HEIGHT);
            }
            Block::Paragraph(text) => flow.paragraph(text, body, 0.0, BODY_LINE_HEIGHT, 4),
            Block::List { ordered, items } => flow.list(*ordered, items, body),
            Block::PageBreak => flow.breaks += 1,
            Block::Qr(data) => {
                let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M)
                    .map_err(|_| RenderError::QrCodeTooLong)?;
                flow.qr(code);
            }
        }
        after_subject = false;
    }

    let mut pages = flow.pages;
    let count = pages.len();
    let face = &fonts.regular;
    for (number, page) in pages.iter_mut().enumerate() {
        let text = match part.language {
            Language::English => format!("Page {} of {}", number + 1, count),
            Language::Welsh => format!("Tudalen {} o {}", number + 1, count),
        };
        // `@bottom-right`, `vertical-align: top`: the number's line starts where the bottom margin does.
        page.items.push(Item::Text(Run {
            x: RIGHT - face.width(&text, PAGE_NUMBER_SIZE),
            baseline: FLOW_BOTTOM + face.ascent * PAGE_NUMBER_SIZE,
            size: PAGE_NUMBER_SIZE,
            bold: false,
            white: false,
            text,
        }));
    }
    Ok(pages)
}

/// Upper case (`text-transform: uppercase`), one line per address line, the block's bottom edge fixed so it
/// grows upwards in the window; a line too wide for the window is cut (`white-space: nowrap; overflow:
/// hidden`) rather than wrapped, and never more lines than fit the block's 26.7 mm.
fn address_block(fonts: &Fonts, lines: &[String], page: &mut Page) {
    let face = &fonts.regular;
    let mut lines: Vec<String> = lines
        .iter()
        .map(|line| line.trim().to_uppercase())
        .filter(|line| !line.is_empty())
        .collect();
    let max_lines = (ADDRESS_MAX_HEIGHT / ADDRESS_LINE_HEIGHT) as usize;
    if lines.len() > max_lines {
        // Keep the postcode or country, which the printer's sorting needs.
        let last = lines.pop().expect("more lines than the maximum");
        lines.truncate(max_lines - 1);
        lines.push(last);
    }
    let top = ADDRESS_BOTTOM - lines.len() as f32 * ADDRESS_LINE_HEIGHT;
    for (index, line) in lines.into_iter().enumerate() {
        let mut width = 0.0;
        let text: String = line
            .chars()
            .take_while(|c| {
                width += face.advance(*c, ADDRESS_SIZE);
                width <= ADDRESS_WIDTH
            })
            .collect();
        page.items.push(Item::Text(Run {
            x: ADDRESS_LEFT,
            baseline: top
                + index as f32 * ADDRESS_LINE_HEIGHT
                + face.baseline(ADDRESS_SIZE, ADDRESS_LINE_HEIGHT),
            size: ADDRESS_SIZE,
            bold: false,
            white: false,
            text: text.trim_end().to_string(),
        }));
    }
}

/// Top right, its bottom edge fixed above the body; lines as the service typed them, wrapped to the block's
/// width, and no more than its 132 pt.
fn contact_block(fonts: &Fonts, contact: &str, page: &mut Page) {
    let face = &fonts.regular;
    let mut lines: Vec<Inline> = Vec::new();
    for line in contact.trim().split('\n') {
        let line = remove_whitespace_before_punctuation(line.trim());
        if line.is_empty() {
            lines.push(Vec::new());
        } else {
            lines.extend(wrap(fonts, &plain(&line), CONTACT_SIZE, CONTACT_WIDTH));
        }
    }
    lines.truncate((CONTACT_MAX_HEIGHT / CONTACT_LINE_HEIGHT) as usize);
    let left = RIGHT - CONTACT_WIDTH;
    let top = CONTACT_BOTTOM - lines.len() as f32 * CONTACT_LINE_HEIGHT;
    for (index, line) in lines.iter().enumerate() {
        let baseline = top
            + index as f32 * CONTACT_LINE_HEIGHT
            + face.baseline(CONTACT_SIZE, CONTACT_LINE_HEIGHT);
        push_line(fonts, line, left, baseline, CONTACT_SIZE, &mut page.items);
    }
}

fn remove_whitespace_before_punctuation(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        if matches!(c, ',' | '.') {
            let kept = out.trim_end_matches([' ', '\t']).len();
            if kept > 0 {
                out.truncate(kept);
            }
        }
        out.push(c);
    }
    out
}

fn plain(text: &str) -> Inline {
    text.chars().map(|c| (c, false)).collect()
}

/// Greedy line breaking at spaces (and at `\n`, which Notify keeps as a line break), with a word wider than the
/// line broken where it reaches the edge so that nothing is printed outside the text area.
pub fn wrap(fonts: &Fonts, text: &[(char, bool)], size: f32, max_width: f32) -> Vec<Inline> {
    let mut lines = Vec::new();
    for hard_line in text.split(|(c, _)| *c == '\n') {
        let mut start = 0;
        loop {
            while start < hard_line.len() && hard_line[start].0 == ' ' {
                start += 1;
            }
            if start >= hard_line.len() {
                if lines.is_empty() || start == 0 {
                    lines.push(Vec::new());
                }
                break;
            }
            let mut width = 0.0;
            let mut last_space = None;
            let mut end = hard_line.len();
            for (i, (c, bold)) in hard_line.iter().enumerate().skip(start) {
                if *c == ' ' {
                    last_space = Some(i);
                }
                let advance = fonts.face(*bold).advance(*c, size);
                if *c != ' ' && i > start && width + advance > max_width {
                    end = match last_space {
                        Some(space) => space,
                        None => i,
                    };
                    break;
                }
                width += advance;
            }
            let mut line = hard_line[start..end].to_vec();
            while line.last().is_some_and(|(c, _)| *c == ' ') {
                line.pop();
            }
            lines.push(line);
            if end >= hard_line.len() {
                break;
            }
            start = end;
        }
    }
    lines
}

/// A line's characters as runs of one font, left to right from `x`.
fn push_line(
    fonts: &Fonts,
    line: &[(char, bool)],
    x: f32,
    baseline: f32,
    size: f32,
    items: &mut Vec<Item>,
) {
    let mut x = x;
    for run in line.chunk_by(|a, b| a.1 == b.1) {
        let bold = run[0].1;
        let text: String = run.iter().map(|(c, _)| *c).collect();
        let width = fonts.face(bold).width(&text, size);
        items.push(Item::Text(Run {
            x,
            baseline,
            size,
            bold,
            white: false,
            text,
        }));
        x += width;
    }
}

/// A bold style (a heading) makes all of its text bold; otherwise the text keeps its own bold runs (URLs).
fn styled(text: &[(char, bool)], style: Style) -> Inline {
    text.iter()
        .map(|(c, bold)| (*c, *bold || style.bold))
        .collect()
}

#[derive(Clone, Copy)]
struct Style {
    size: f32,
    line_height: f32,
    bold: bool,
}

/// The body's flow down the pages: CSS block margins collapse between neighbours and are dropped at the top of
/// a page; `---` forces a page.
struct Flow<'a> {
    fonts: &'a Fonts,
    pages: Vec<Page>,
    y: f32,
    /// The bottom margin of the block above, still to collapse with the next block's top margin.
    margin: f32,
    at_top: bool,
    breaks: usize,
}

impl Flow<'_> {
    fn new_page(&mut self) {
        self.pages.push(Page::default());
        self.y = TOP;
        self.margin = 0.0;
        self.at_top = true;
    }

    fn take_breaks(&mut self) {
        for _ in 0..std::mem::take(&mut self.breaks) {
            self.new_page();
        }
    }

    fn gap(&self, margin_top: f32) -> f32 {
        if self.at_top {
            0.0
        } else {
            self.margin.max(margin_top)
        }
    }

    fn page(&mut self) -> &mut Page {
        self.pages.last_mut().expect("the flow has a page")
    }

    fn face(&self, bold: bool) -> &Face {
        self.fonts.face(bold)
    }

    fn paragraph(
        &mut self,
        text: &[(char, bool)],
        style: Style,
        margin_top: f32,
        margin_bottom: f32,
        orphans: usize,
    ) {
        let lines = wrap(self.fonts, &styled(text, style), style.size, CONTENT_WIDTH);
        self.lines(
            &lines,
            style,
            LEFT,
            None,
            margin_top,
            margin_bottom,
            orphans,
        );
    }

    /// A heading stays with the first lines of what follows it.
    fn heading(
        &mut self,
        text: &[(char, bool)],
        style: Style,
        margin_top: f32,
        margin_bottom: f32,
    ) {
        self.take_breaks();
        let lines = wrap(self.fonts, &styled(text, style), style.size, CONTENT_WIDTH);
        let needed = self.gap(margin_top)
            + lines.len() as f32 * style.line_height
            + margin_bottom
            + 2.0 * BODY_LINE_HEIGHT;
        if !self.at_top && self.y + needed > FLOW_BOTTOM {
            self.new_page();
        }
        self.lines(
            &lines,
            style,
            LEFT,
            None,
            margin_top,
            margin_bottom,
            lines.len(),
        );
    }

    /// `ul` indents its text 0.8 em and `ol` 1.4 em, the marker hanging to the left of the text.
    fn list(&mut self, ordered: bool, items: &[Inline], style: Style) {
        let indent = if ordered { 1.4 } else { 0.8 } * style.size;
        let x = LEFT + indent;
        let last = items.len().saturating_sub(1);
        for (index, item) in items.iter().enumerate() {
            let lines = wrap(self.fonts, item, style.size, CONTENT_WIDTH - indent);
            let marker = if ordered {
                format!("{}. ", index + 1)
            } else {
                "• ".to_string()
            };
            let margin_bottom = if index == last { BODY_LINE_HEIGHT } else { 0.0 };
            self.lines(&lines, style, x, Some(marker), 0.0, margin_bottom, 2);
        }
    }

    fn qr(&mut self, code: QrCode) {
        self.take_breaks();
        let gap = self.gap(QR_MARGIN_TOP);
        if !self.at_top && self.y + gap + QR_SIDE > FLOW_BOTTOM {
            self.new_page();
        }
        let y = self.y + self.gap(QR_MARGIN_TOP);
        self.page().items.push(Item::Qr {
            x: LEFT + (CONTENT_WIDTH - QR_SIDE) / 2.0,
            y,
            code: Box::new(code),
        });
        self.y = y + QR_SIDE;
        self.margin = QR_MARGIN_BOTTOM;
        self.at_top = false;
    }

    /// Places a block's lines, breaking to a new page where they run out of room: at least `orphans` lines
    /// before a break and two after it, as WeasyPrint does with upstream's `orphans: 4` on paragraphs.
    #[allow(clippy::too_many_arguments)]
    fn lines(
        &mut self,
        lines: &[Inline],
        style: Style,
        x: f32,
        marker: Option<String>,
        margin_top: f32,
        margin_bottom: f32,
        orphans: usize,
    ) {
        const WIDOWS: usize = 2;
        self.take_breaks();
        let mut placed = 0;
        while placed < lines.len() {
            let gap = if placed == 0 {
                self.gap(margin_top)
            } else {
                0.0
            };
            let room = FLOW_BOTTOM - (self.y + gap);
            let fit = ((room + 0.01) / style.line_height).floor().max(0.0) as usize;
            let remaining = lines.len() - placed;
            let mut take = fit.min(remaining);
            if take < remaining {
                if remaining - take < WIDOWS {
                    take = remaining.saturating_sub(WIDOWS);
                }
                if take < orphans.min(remaining) {
                    take = 0;
                }
            }
            if take == 0 && self.at_top {
                // Nothing would ever fit better than an empty page: place what fits.
                take = fit.clamp(1, remaining);
            }
            if take == 0 {
                self.new_page();
                continue;
            }
            self.y += gap;
            let baseline_offset = self
                .face(style.bold)
                .baseline(style.size, style.line_height);
            for (offset, line) in lines[placed..placed + take].iter().enumerate() {
                let baseline = self.y + baseline_offset;
                if placed + offset == 0
                    && let Some(marker) = &marker
                {
                    let width = self.face(style.bold).width(marker, style.size);
                    self.page().items.push(Item::Text(Run {
                        x: x - width,
                        baseline,
                        size: style.size,
                        bold: style.bold,
                        white: false,
                        text: marker.trim_end().to_string(),
                    }));
                }
                let fonts = self.fonts;
                push_line(fonts, line, x, baseline, style.size, &mut self.page().items);
                self.y += style.line_height;
            }
            placed += take;
            self.at_top = false;
            if placed < lines.len() {
                self.new_page();
            }
        }
        self.margin = margin_bottom;
        if lines.is_empty() {
            self.margin = self.margin.max(margin_top);
        }
    }
}
