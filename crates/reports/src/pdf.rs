//! The PDF report: cover, totals, budget and projection, charts drawn with
//! plotters, tables that flow across pages, page numbers and the checksum
//! in every footer. DejaVu Sans is embedded (subset).
//!
//! Layout works in millimetres from the top-left corner; floats here are
//! page geometry and chart pixels, never money (amounts stay decimal strings
//! and are only converted to draw a bar).
#![allow(clippy::float_arithmetic)]

use crate::canonical::Hasher;
use crate::tabular::{group_cells, meta, scope, summary_groups, summary_totals, Scope};
use crate::{ExportRequest, Kind, Meta, ReportError, Result};
use argus_domain::money::group_thousands;
use argus_domain::Money;
use argus_ops::api::Group;
use argus_ops::Ops;
use printpdf::{
    Color, FontId, Line, LinePoint, Mm, Op, PaintMode, ParsedFont, PdfDocument, PdfFontHandle, PdfPage, PdfSaveOptions, Point, Pt,
    RawImage, RawImageData, RawImageFormat, Rect, Rgb, TextItem, XObjectTransform,
};
use rust_decimal::prelude::ToPrimitive;
use std::io::Write;

const REGULAR: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
const BOLD: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");
const W: f32 = 210.0;
const H: f32 = 297.0;
const LEFT: f32 = 16.0;
const RIGHT: f32 = 194.0;
const TOP: f32 = 18.0;
const BOTTOM: f32 = 280.0;

fn rgb(r: f32, g: f32, b: f32) -> Color {
    Color::Rgb(Rgb { r, g, b, icc_profile: None })
}

fn pt(x: f32, y_top: f32) -> Point {
    Point { x: Mm(x).into(), y: Mm(H - y_top).into() }
}

/// Width of text in mm, from DejaVu Sans' advances by kind of character
/// (digits are tabular, 0.636 em), close enough to right-align numbers.
fn text_width(s: &str, size: f32, bold: bool) -> f32 {
    let ems: f32 = s
        .chars()
        .map(|c| match c {
            '0'..='9' => 0.636,
            '.' | ',' | ' ' | ':' | ';' | '!' | '|' | 'i' | 'l' | 'j' | '\'' => 0.3184,
            '%' => 0.95,
            'A'..='Z' => 0.70,
            _ => 0.58,
        })
        .sum();
    ems * size * 0.3528 * if bold { 1.08 } else { 1.0 }
}

/// Splits text into lines that fit `width` mm.
fn wrap(s: &str, width: f32, size: f32) -> Vec<String> {
    let max = ((width / (size * 0.56 * 0.3528)).floor() as usize).max(4);
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in s.split(' ') {
        let mut word = word.to_string();
        while word.chars().count() > max {
            let head: String = word.chars().take(max).collect();
            let tail: String = word.chars().skip(max).collect();
            if !cur.is_empty() {
                lines.push(std::mem::take(&mut cur));
            }
            lines.push(head);
            word = tail;
        }
        if cur.chars().count() + word.chars().count() + usize::from(!cur.is_empty()) > max {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(&word);
    }
    if !cur.is_empty() || lines.is_empty() {
        lines.push(cur);
    }
    lines
}

struct Doc {
    doc: PdfDocument,
    regular: FontId,
    bold: FontId,
    pages: Vec<Vec<Op>>,
    y: f32,
}

#[derive(Clone, Copy, PartialEq)]
enum Align {
    Left,
    Right,
}

impl Doc {
    /// A document titled `title`, created at `now` (its metadata's creation
    /// and modification dates), by this version of Argus Usage.
    fn new(title: &str, subject: &str, now: chrono::DateTime<chrono::Utc>) -> Result<Doc> {
        let mut doc = PdfDocument::new(title);
        let at = printpdf::OffsetDateTime::from_unix_timestamp(now.timestamp())
            .map_err(|e| ReportError::Bad(format!("the creation date {now} cannot be written into the PDF: {e}")))?;
        let info = &mut doc.metadata.info;
        (info.creation_date, info.modification_date, info.metadata_date) = (at, at, at);
        info.creator = crate::generator();
        info.producer = crate::generator();
        info.subject = subject.to_string();
        let mut warnings = Vec::new();
        let r =
            ParsedFont::from_bytes(REGULAR, 0, &mut warnings).ok_or_else(|| ReportError::Bad("the embedded font cannot be read".into()))?;
        let b =
            ParsedFont::from_bytes(BOLD, 0, &mut warnings).ok_or_else(|| ReportError::Bad("the embedded font cannot be read".into()))?;
        let regular = doc.add_font(&r);
        let bold = doc.add_font(&b);
        Ok(Doc { doc, regular, bold, pages: vec![Vec::new()], y: TOP })
    }

    fn ops(&mut self) -> &mut Vec<Op> {
        if self.pages.is_empty() {
            self.pages.push(Vec::new());
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = TOP;
    }

    /// Starts a new page unless `h` mm still fit on this one.
    fn need(&mut self, h: f32) {
        if self.y + h > BOTTOM {
            self.new_page();
        }
    }

    fn text_at(&mut self, x: f32, y: f32, s: &str, size: f32, bold: bool, color: Color) {
        let font = if bold { self.bold.clone() } else { self.regular.clone() };
        self.ops().extend([
            Op::StartTextSection,
            Op::SetFillColor { col: color },
            Op::SetFont { font: PdfFontHandle::External(font), size: Pt(size) },
            Op::SetTextCursor { pos: pt(x, y) },
            Op::ShowText { items: vec![TextItem::Text(s.to_string())] },
            Op::EndTextSection,
        ]);
    }

    /// A paragraph at the cursor, wrapped to the page width.
    fn para(&mut self, s: &str, size: f32, bold: bool, color: Color) {
        for line in wrap(s, RIGHT - LEFT, size) {
            self.need(size * 0.45);
            self.y += size * 0.45;
            self.text_at(LEFT, self.y, &line, size, bold, color.clone());
        }
        self.y += size * 0.18;
    }

    fn heading(&mut self, s: &str) {
        self.need(22.0);
        self.y += 4.0;
        self.para(s, 13.0, true, rgb(0.12, 0.30, 0.47));
        self.rule();
    }

    fn rule(&mut self) {
        let y = self.y;
        self.ops().extend([
            Op::SetOutlineColor { col: rgb(0.75, 0.78, 0.82) },
            Op::SetOutlineThickness { pt: Pt(0.6) },
            Op::DrawLine {
                line: Line {
                    points: vec![LinePoint { p: pt(LEFT, y), bezier: false }, LinePoint { p: pt(RIGHT, y), bezier: false }],
                    is_closed: false,
                },
            },
        ]);
        self.y += 2.0;
    }

    fn fill_rect(&mut self, x: f32, y_top: f32, w: f32, h: f32, color: Color) {
        self.ops().extend([
            Op::SetFillColor { col: color },
            Op::DrawRectangle {
                rectangle: Rect {
                    x: Mm(x).into(),
                    y: Mm(H - y_top - h).into(),
                    width: Mm(w).into(),
                    height: Mm(h).into(),
                    mode: Some(PaintMode::Fill),
                    winding_order: None,
                },
            },
        ]);
    }

    /// A table: header row, then rows that wrap long cells and flow to new
    /// pages (the header is repeated).
    fn table(&mut self, headers: &[&str], widths: &[f32], align: &[Align], rows: &[Vec<String>]) {
        let size = 8.5;
        let lh = size * 0.42;
        let header = |d: &mut Doc| {
            d.need(lh * 3.0);
            d.fill_rect(LEFT, d.y, RIGHT - LEFT, lh + 2.0, rgb(0.90, 0.93, 0.96));
            let mut x = LEFT + 1.0;
            let y = d.y + lh + 0.4;
            for (i, h) in headers.iter().enumerate() {
                let tx = if align[i] == Align::Right { x + widths[i] - 2.0 - text_width(h, size, true) } else { x };
                d.text_at(tx, y, h, size, true, rgb(0.1, 0.1, 0.1));
                x += widths[i];
            }
            d.y += lh + 3.0;
        };
        header(self);
        for (ri, row) in rows.iter().enumerate() {
            let cells: Vec<Vec<String>> = row
                .iter()
                .enumerate()
                .map(|(i, c)| if align[i] == Align::Left { wrap(c, widths[i] - 2.0, size) } else { vec![c.clone()] })
                .collect();
            let n = cells.iter().map(Vec::len).max().unwrap_or(1);
            let h = n as f32 * lh + 1.6;
            if self.y + h > BOTTOM {
                self.new_page();
                header(self);
            }
            if ri % 2 == 1 {
                self.fill_rect(LEFT, self.y - 0.6, RIGHT - LEFT, h, rgb(0.97, 0.98, 0.99));
            }
            let mut x = LEFT + 1.0;
            for (i, lines) in cells.iter().enumerate() {
                for (li, line) in lines.iter().enumerate() {
                    let y = self.y + lh * (li as f32 + 1.0);
                    let tx = if align[i] == Align::Right { x + widths[i] - 2.0 - text_width(line, size, false) } else { x };
                    self.text_at(tx, y, line, size, false, rgb(0.1, 0.1, 0.1));
                }
                x += widths[i];
            }
            self.y += h;
        }
        self.y += 3.0;
    }

    fn image(&mut self, pixels: Vec<u8>, w_px: usize, h_px: usize, width_mm: f32) {
        let height_mm = width_mm * h_px as f32 / w_px as f32;
        self.need(height_mm + 2.0);
        let img =
            RawImage { pixels: RawImageData::U8(pixels), width: w_px, height: h_px, data_format: RawImageFormat::RGB8, tag: Vec::new() };
        let id = self.doc.add_image(&img);
        let dpi = w_px as f32 / (width_mm / 25.4);
        let y = self.y;
        self.ops().push(Op::UseXobject {
            id,
            transform: XObjectTransform {
                translate_x: Some(Mm(LEFT).into()),
                translate_y: Some(Mm(H - y - height_mm).into()),
                dpi: Some(dpi),
                ..Default::default()
            },
        });
        self.y += height_mm + 3.0;
    }

    fn finish(mut self, footer: &str) -> Vec<u8> {
        let n = self.pages.len();
        let pages = std::mem::take(&mut self.pages);
        let mut out = Vec::new();
        for (i, mut ops) in pages.into_iter().enumerate() {
            let font = self.regular.clone();
            ops.extend([
                Op::SetOutlineColor { col: rgb(0.75, 0.78, 0.82) },
                Op::SetOutlineThickness { pt: Pt(0.5) },
                Op::DrawLine {
                    line: Line {
                        points: vec![LinePoint { p: pt(LEFT, 284.0), bezier: false }, LinePoint { p: pt(RIGHT, 284.0), bezier: false }],
                        is_closed: false,
                    },
                },
                Op::StartTextSection,
                Op::SetFillColor { col: rgb(0.35, 0.38, 0.42) },
                Op::SetFont { font: PdfFontHandle::External(font.clone()), size: Pt(7.0) },
                Op::SetTextCursor { pos: pt(LEFT, 289.0) },
                Op::ShowText { items: vec![TextItem::Text(footer.to_string())] },
                Op::EndTextSection,
            ]);
            let label = format!("Page {} of {n}", i + 1);
            let x = RIGHT - text_width(&label, 7.0, false);
            ops.extend([
                Op::StartTextSection,
                Op::SetFont { font: PdfFontHandle::External(font), size: Pt(7.0) },
                Op::SetTextCursor { pos: pt(x, 289.0) },
                Op::ShowText { items: vec![TextItem::Text(label)] },
                Op::EndTextSection,
            ]);
            out.push(PdfPage::new(Mm(W), Mm(H), ops));
        }
        let opts = PdfSaveOptions { subset_fonts: true, ..PdfSaveOptions::default() };
        self.doc.with_pages(out).save(&opts, &mut Vec::new())
    }
}

/// The length of a bar in chart units: a drawing, never a sum.
fn bar_len(m: Money) -> f64 {
    m.decimal().to_f64().unwrap_or(0.0)
}

fn register_fonts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, REGULAR);
        let _ = plotters::style::register_font("sans-serif", plotters::style::FontStyle::Bold, BOLD);
    });
}

/// A bar chart of the daily series, as RGB pixels.
fn daily_chart(daily: &[Group], currency: &str) -> Option<(Vec<u8>, usize, usize)> {
    use plotters::prelude::*;
    register_fonts();
    let (w, h) = (1800usize, 640usize);
    let mut buf = vec![255u8; w * h * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w as u32, h as u32)).into_drawing_area();
        let bars: Vec<_> = daily.iter().map(|g| bar_len(g.cost)).collect();
        let top = bars.iter().copied().fold(0.0, f64::max).max(0.01) * 1.15;
        let n = daily.len().max(1);
        let mut chart = ChartBuilder::on(&root)
            .margin(24)
            .x_label_area_size(56)
            .y_label_area_size(110)
            .caption(format!("Daily spend ({currency})"), ("sans-serif", 34))
            .build_cartesian_2d(0f64..n as f64, 0f64..top)
            .ok()?;
        let labels: Vec<String> = daily.iter().map(|g| g.key.clone().unwrap_or_default()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(8.min(n))
            .x_label_formatter(&|x| labels.get(*x as usize).map(|k| k.get(5..).unwrap_or(k).to_string()).unwrap_or_default())
            .y_label_formatter(&|y| format!("{y:.2}"))
            .label_style(("sans-serif", 24))
            .draw()
            .ok()?;
        chart
            .draw_series(daily.iter().enumerate().map(|(i, g)| {
                let x0 = i as f64 + 0.12;
                Rectangle::new([(x0, 0.0), (x0 + 0.76, bar_len(g.cost))], RGBColor(31, 78, 121).filled())
            }))
            .ok()?;
        root.present().ok()?;
    }
    Some((buf, w, h))
}

/// A horizontal bar chart of a breakdown, as RGB pixels.
fn breakdown_chart(title: &str, groups: &[Group]) -> Option<(Vec<u8>, usize, usize)> {
    use plotters::prelude::*;
    register_fonts();
    let groups: Vec<&Group> = groups.iter().take(8).collect();
    let (w, h) = (1800usize, 140 + groups.len().max(1) * 70);
    let mut buf = vec![255u8; w * h * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w as u32, h as u32)).into_drawing_area();
        let bars: Vec<_> = groups.iter().map(|g| bar_len(g.cost)).collect();
        let top = bars.iter().copied().fold(0.0, f64::max).max(0.01) * 1.35;
        let n = groups.len().max(1);
        let mut chart = ChartBuilder::on(&root)
            .margin(24)
            .x_label_area_size(48)
            .y_label_area_size(10)
            .caption(title, ("sans-serif", 34))
            .build_cartesian_2d(0f64..top, 0f64..n as f64)
            .ok()?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_label_formatter(&|x| format!("{x:.2}"))
            .label_style(("sans-serif", 24))
            .draw()
            .ok()?;
        let palette = [
            RGBColor(31, 78, 121),
            RGBColor(46, 134, 171),
            RGBColor(162, 59, 114),
            RGBColor(241, 143, 1),
            RGBColor(59, 31, 43),
            RGBColor(88, 129, 87),
            RGBColor(199, 62, 29),
            RGBColor(110, 110, 110),
        ];
        chart
            .draw_series(groups.iter().enumerate().map(|(i, g)| {
                let y0 = n as f64 - i as f64 - 0.85;
                Rectangle::new([(0.0, y0), (bar_len(g.cost), y0 + 0.7)], palette[i % palette.len()].filled())
            }))
            .ok()?;
        chart
            .draw_series(groups.iter().enumerate().map(|(i, g)| {
                let y0 = n as f64 - i as f64 - 0.85;
                let name = g.key.clone().unwrap_or_else(|| "(none)".into());
                Text::new(format!("{name}  {}", g.cost), (bar_len(g.cost) + top * 0.01, y0 + 0.55), ("sans-serif", 26).into_font())
            }))
            .ok()?;
        root.present().ok()?;
    }
    Some((buf, w, h))
}

/// A count for reading: thousands grouped.
fn n(x: i64) -> String {
    group_thousands(&x.to_string())
}

/// An amount for reading: to the cent, thousands grouped (the exact figure
/// is in the appendix, the CSV and the JSON).
fn cents(m: Money) -> String {
    m.to_cents_grouped()
}

fn money_rows(groups: &[Group], limit: usize) -> Vec<Vec<String>> {
    groups
        .iter()
        .take(limit)
        .map(|g| {
            vec![
                g.key.clone().unwrap_or_else(|| "(none)".into()),
                n(g.requests),
                n(g.input_tokens),
                n(g.output_tokens),
                cents(g.cost),
                if g.unpriced_requests > 0 { n(g.unpriced_requests) } else { String::new() },
            ]
        })
        .collect()
}

/// What the report shows, read through the facade before anything is drawn.
struct Figures {
    /// The groups of the chosen dimension (what the checksum covers).
    groups: Vec<Group>,
    daily: Vec<Group>,
    by_provider: Vec<Group>,
    by_operation: Vec<Group>,
    by_investigation: Vec<Group>,
    prices: Vec<argus_ops::api::PriceView>,
    m: Meta,
    /// The month the period ends in: its budget, projection and alerts.
    last_month: String,
    status: argus_ops::api::BudgetStatus,
    forecast: argus_ops::api::Forecast,
    alerts: Vec<argus_ops::api::AlertView>,
}

fn gather(ops: &mut Ops, req: &ExportRequest, sc: &Scope, progress: &mut dyn FnMut(u64, u64)) -> Result<Figures> {
    let now = ops.now();
    // The checksum of a PDF covers the groups of the chosen dimension, in
    // the canonical summary form: the same figures as `--kind summary`.
    let mut by_req = req.clone();
    by_req.kind = Kind::Summary;
    let (groups, daily) = summary_groups(ops, &by_req, sc)?;
    let mut hasher = Hasher::default();
    for g in &groups {
        let cells = group_cells(g);
        hasher.row(&cells.iter().map(|c| c.as_deref()).collect::<Vec<_>>());
    }
    let dim = |d: &str, ops: &mut Ops| -> Result<Vec<Group>> {
        let mut r = req.clone();
        r.by = Some(d.to_string());
        Ok(summary_groups(ops, &r, sc)?.0)
    };
    let by_provider = dim("provider", ops)?;
    let by_operation = dim("operation", ops)?;
    let by_investigation = dim("investigation", ops)?;
    progress(1, 4);
    let totals = summary_totals(&groups, &sc.currency);
    let price_ids = ops.price_ids_used(&req.org, Some(&sc.from), Some(&sc.to))?;
    let prices = ops.prices_by_ids(&price_ids)?;
    let m = meta(&by_req, sc, now, groups.len() as i64, totals, price_ids, hasher.finish());
    // Budget, alerts and projection of the month the period ends in.
    // (Its last instant; for an empty period, its start.)
    let last_month = {
        let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).map(|d| d.with_timezone(&chrono::Utc));
        let to = at(&sc.to).map(|d| d - chrono::Duration::nanoseconds(1)).unwrap_or(now);
        let last = at(&sc.from).map(|f| to.max(f)).unwrap_or(to);
        argus_domain::time::Month::of_date(argus_domain::time::local_date(sc.tz, last)).to_string()
    };
    let status = ops.budget_status(&req.org, Some(&last_month))?;
    let forecast = ops.forecast(&req.org, Some(&last_month))?;
    let alerts: Vec<_> = ops
        .alerts_list(&req.org)?
        .into_iter()
        .filter(|a| a.fired_at.as_str() >= sc.from.as_str() && a.fired_at.as_str() < sc.to.as_str())
        .collect();
    progress(2, 4);
    Ok(Figures { groups, daily, by_provider, by_operation, by_investigation, prices, m, last_month, status, forecast, alerts })
}

/// The band, title, organisation, period, filters (`none` when there are
/// none) and when and by what the document was made: the head of every
/// first page.
fn masthead(d: &mut Doc, title: &str, req: &ExportRequest, sc: &Scope, m: &Meta, filters: &[String], none: &str) {
    let ink = rgb(0.1, 0.1, 0.1);
    d.fill_rect(0.0, 0.0, W, 9.0, rgb(0.12, 0.30, 0.47));
    d.y = 24.0;
    d.para(title, 22.0, true, rgb(0.12, 0.30, 0.47));
    d.para(&format!("{} ({})", sc.name, req.org), 14.0, true, ink.clone());
    d.y += 2.0;
    d.para(
        &format!("Period: {} to {} (time zone {}; the end is exclusive)", m.period.from, m.period.to, m.period.timezone),
        10.0,
        false,
        ink.clone(),
    );
    d.para(&format!("Filters: {}", if filters.is_empty() { none.to_string() } else { filters.join(", ") }), 10.0, false, ink);
    d.para(&format!("Generated {} by {}", m.generated_at, m.generator), 10.0, false, rgb(0.35, 0.38, 0.42));
}

/// The top of the first page, for the report and the listing alike: title,
/// organisation, period, filters, when and by what it was made, the totals
/// and what they leave out.
fn cover(d: &mut Doc, title: &str, req: &ExportRequest, sc: &Scope, m: &Meta) {
    let totals = &m.totals;
    let ink = rgb(0.1, 0.1, 0.1);
    let muted = rgb(0.35, 0.38, 0.42);
    let f = &req.filters;
    let filters: Vec<String> = [
        ("provider", &f.provider),
        ("model", &f.model),
        ("operation", &f.operation),
        ("investigation", &f.investigation),
        ("user", &f.user),
        ("status", &f.status),
        ("investigation contains", &f.investigation_contains),
        ("user contains", &f.user_contains),
    ]
    .iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} = {v}")))
    .collect();
    masthead(d, title, req, sc, m, &filters, "none (all usage)");
    d.y += 3.0;

    // Totals band.
    let band_y = d.y;
    d.fill_rect(LEFT, band_y, RIGHT - LEFT, 22.0, rgb(0.94, 0.96, 0.98));
    let cost = totals.cost.parse::<Money>().map(cents).unwrap_or_else(|_| totals.cost.clone());
    let cells = [
        ("Total cost", format!("{cost} {}", totals.currency)),
        ("Requests", n(totals.requests)),
        ("Input tokens", n(totals.input_tokens)),
        ("Output tokens", n(totals.output_tokens)),
    ];
    let xs = [LEFT + 4.0, LEFT + 72.0, LEFT + 106.0, LEFT + 142.0];
    for (i, (label, value)) in cells.iter().enumerate() {
        let x = xs[i];
        d.text_at(x, band_y + 7.0, label, 8.0, false, muted.clone());
        d.text_at(x, band_y + 15.0, value, 12.0, true, ink.clone());
    }
    d.y = band_y + 26.0;
    if totals.unpriced_requests > 0 {
        d.fill_rect(LEFT, d.y, RIGHT - LEFT, 13.0, rgb(1.0, 0.95, 0.85));
        let y0 = d.y;
        d.y += 1.0;
        d.para(
            &format!(
                "Warning: {} requests in this period are UNPRICED (no price for their model at the time) and are not included in the total cost. Add the missing prices and reprice to include them.",
                n(totals.unpriced_requests)
            ),
            9.0,
            true,
            rgb(0.55, 0.29, 0.0),
        );
        d.y = d.y.max(y0 + 15.0);
    }
    if totals.requests == 0 {
        d.para("No usage matches this period and these filters: there is nothing to report.", 11.0, true, ink);
    }
}

/// The first page: the cover, the budget and projection of the month, the
/// daily chart.
fn title_page(d: &mut Doc, req: &ExportRequest, sc: &Scope, f: &Figures) {
    let Figures { m, last_month, status, forecast, daily, .. } = f;
    let ink = rgb(0.1, 0.1, 0.1);
    cover(d, "AI usage and cost report", req, sc, m);

    d.heading(&format!("Budget and projection, {last_month}"));
    match &status.amount {
        Some(a) => {
            d.para(
                &format!(
                    "Budget {} {cur} ({}); spent {} {cur} ({}%), remaining {} {cur}; hard limit {}.",
                    cents(*a),
                    status.budget_source.as_deref().unwrap_or("-"),
                    cents(status.spent),
                    status.percent.clone().unwrap_or_else(|| "-".into()),
                    status.remaining.map(cents).unwrap_or_default(),
                    if status.hard_limit { "on" } else { "off" },
                    cur = sc.currency
                ),
                10.0,
                false,
                ink.clone(),
            );
        }
        None => {
            d.para(&format!("No budget is set for {last_month}; spent {} {}.", cents(status.spent), sc.currency), 10.0, false, ink.clone())
        }
    }
    if forecast.enough_data {
        d.para(
            &format!(
                "Projected month end: {} {cur} (range {} to {}){}{}.",
                forecast.projected.map(cents).unwrap_or_default(),
                forecast.low.map(cents).unwrap_or_default(),
                forecast.high.map(cents).unwrap_or_default(),
                forecast.crosses_on.as_ref().map(|c| format!("; the budget is reached on {c}")).unwrap_or_default(),
                forecast.budget_left_text().map(|t| format!("; {t}")).unwrap_or_default(),
                cur = sc.currency
            ),
            10.0,
            false,
            ink.clone(),
        );
    } else {
        d.para("Projection: not enough data yet (the month has no complete day).", 10.0, false, ink.clone());
    }
    if let Some((px, w, h)) = daily_chart(daily, &sc.currency) {
        d.y += 2.0;
        d.image(px, w, h, RIGHT - LEFT);
    }
}

/// Spend by provider, operation, top investigations (and the chosen dimension).
fn breakdowns(d: &mut Doc, req: &ExportRequest, sc: &Scope, f: &Figures) {
    let Figures { groups, by_provider, by_operation, by_investigation, m, .. } = f;
    let widths = [70.0, 20.0, 27.0, 25.0, 24.0, 12.0];
    let align = [Align::Left, Align::Right, Align::Right, Align::Right, Align::Right, Align::Right];
    let headers = ["Key", "Requests", "Input tok.", "Output tok.", &format!("Cost {}", sc.currency), "Unpr."];
    d.new_page();
    d.heading("Spend by provider");
    if let Some((px, w, h)) = breakdown_chart(&format!("Cost by provider ({})", sc.currency), by_provider) {
        d.image(px, w, h, RIGHT - LEFT);
    }
    d.table(&headers, &widths, &align, &money_rows(by_provider, usize::MAX));
    d.heading("Spend by operation");
    d.table(&headers, &widths, &align, &money_rows(by_operation, usize::MAX));
    d.heading("Top investigations");
    d.table(&headers, &widths, &align, &money_rows(by_investigation, 15));
    if req.by.as_deref().is_some_and(|b| !matches!(b, "provider" | "operation" | "investigation")) {
        d.heading(&format!("Spend by {}", m.by.clone().unwrap_or_default()));
        d.table(&headers, &widths, &align, &money_rows(groups, usize::MAX));
    }
}

/// Alerts fired, price versions used, and how to verify the figures.
fn appendix(d: &mut Doc, sc: &Scope, f: &Figures) {
    let Figures { alerts, prices, m, groups, .. } = f;
    let ink = rgb(0.1, 0.1, 0.1);
    let muted = rgb(0.35, 0.38, 0.42);
    d.new_page();
    d.heading(&format!("Exact figures by {}", m.by.clone().unwrap_or_default()));
    d.para(
        &format!(
            "Costs in {} to 9 decimal places, as stored and as the CSV and JSON exports give them. The report's other figures are these rounded half to even to the cent; the total is the exact sum of the rows.",
            sc.currency
        ),
        8.5,
        false,
        muted.clone(),
    );
    let mut rows: Vec<Vec<String>> =
        groups.iter().map(|g| vec![g.key.clone().unwrap_or_else(|| "(none)".into()), n(g.requests), g.cost.to_string()]).collect();
    rows.push(vec!["Total".into(), n(m.totals.requests), m.totals.cost.clone()]);
    d.table(
        &["Key", "Requests", &format!("Cost {} (exact)", sc.currency)],
        &[100.0, 30.0, 48.0],
        &[Align::Left, Align::Right, Align::Right],
        &rows,
    );
    d.heading("Alerts fired in the period");
    if alerts.is_empty() {
        d.para("No budget alert fired in this period.", 10.0, false, ink.clone());
    } else {
        let rows: Vec<Vec<String>> = alerts
            .iter()
            .map(|a| {
                vec![
                    a.month.clone(),
                    format!("{}%", a.threshold),
                    format!("{}Z", a.fired_at.get(..19).unwrap_or(&a.fired_at)),
                    cents(a.spent),
                    cents(a.amount),
                    a.acknowledged_by.clone().unwrap_or_else(|| "no".into()),
                ]
            })
            .collect();
        d.table(
            &["Month", "Threshold", "Fired at", "Spent", "Budget", "Acknowledged"],
            &[20.0, 22.0, 52.0, 30.0, 26.0, 28.0],
            &[Align::Left, Align::Right, Align::Left, Align::Right, Align::Right, Align::Left],
            &rows,
        );
    }
    d.heading("Price versions used");
    let rows: Vec<Vec<String>> = prices
        .iter()
        .map(|p| {
            vec![
                p.id.to_string(),
                format!("{}/{}", p.provider, p.model),
                // A version from a midnight UTC reads as its date.
                p.effective_from.strip_suffix("T00:00:00Z").unwrap_or(&p.effective_from).to_string(),
                format!("{} {}", p.input_per_mtok, p.currency),
                p.output_per_mtok.clone(),
                p.cached_input_per_mtok.clone().unwrap_or_else(|| "=input".into()),
                p.source.clone().unwrap_or_default(),
            ]
        })
        .collect();
    if rows.is_empty() {
        d.para("No priced record in this period.", 10.0, false, ink.clone());
    } else {
        d.para("Rates per million tokens, in each version's currency.", 8.5, false, muted.clone());
        d.table(
            &["Id", "Model", "Effective from", "Input", "Output", "Cached", "Source"],
            &[10.0, 42.0, 24.0, 18.0, 14.0, 14.0, 56.0],
            &[Align::Right, Align::Left, Align::Left, Align::Right, Align::Right, Align::Right, Align::Left],
            &rows,
        );
    }
    if !m.fx_rates.is_empty() {
        d.heading("Exchange rates used");
        d.para(
            &format!(
                "Costs priced in another currency are converted into {} at the rate of each record's day (the latest published on or before it), rounded half to even to 9 places.",
                sc.currency
            ),
            8.5,
            false,
            muted.clone(),
        );
        let rows: Vec<Vec<String>> =
            m.fx_rates.iter().map(|x| vec![x.date.clone(), format!("1 {} = {} {}", x.from, x.rate, x.to), x.records.to_string()]).collect();
        d.table(&["Rate of", "Rate", "Records"], &[40.0, 80.0, 30.0], &[Align::Left, Align::Left, Align::Right], &rows);
    }
    d.heading("Verification");
    d.para(
        &format!("SHA-256 of the figures by {} in canonical form: {}", m.by.clone().unwrap_or_default(), m.sha256),
        8.5,
        false,
        ink.clone(),
    );
    d.para("The same figures are exported with `argus-usage export --format csv --kind summary` for this period and filters; `argus-usage export verify` checks such a file.", 8.5, false, muted);
}

/// The most records a PDF lists: a listing is for reading, and beyond this
/// CSV or JSON serve better (and open in a spreadsheet).
pub const LISTING_LIMIT: i64 = 10_000;

/// Refuses a records or audit PDF of more than [`LISTING_LIMIT`] rows,
/// before anything is written.
pub(crate) fn check_listing(ops: &mut Ops, req: &ExportRequest, sc: &Scope) -> Result<()> {
    let count = match req.kind {
        Kind::Audit => crate::audit::entries(ops, req, sc)?.len() as i64,
        _ => ops.usage_summary_of(&req.org, &crate::tabular::query(req, &sc.from, &sc.to), None)?.requests,
    };
    refuse_long_listing(if req.kind == Kind::Audit { "entries of the audit log" } else { "records" }, count)
}

fn refuse_long_listing(what: &str, count: i64) -> Result<()> {
    if count > LISTING_LIMIT {
        let summary = if what == "records" { ", or ask for the report of totals (--kind summary)" } else { "" };
        return Err(ReportError::TooLong(format!(
            "field `kind`: a PDF lists at most {} {what} and this period and these filters select {}; export them as CSV or JSON, or narrow the period or the filters{summary}",
            n(LISTING_LIMIT),
            n(count)
        )));
    }
    Ok(())
}

/// A records PDF: the cover and every record of the period, one line each,
/// in time order (the rows and checksum of the records CSV).
fn write_listing(ops: &mut Ops, req: &ExportRequest, out: &mut dyn Write, progress: &mut dyn FnMut(u64, u64)) -> Result<Meta> {
    let sc = scope(ops, req)?;
    check_listing(ops, req, &sc)?;
    let now = ops.now();
    let mut acc = crate::tabular::Acc::default();
    let mut rows = Vec::new();
    let tz = sc.tz;
    ops.scan_records(&req.org, &crate::tabular::query(req, &sc.from, &sc.to), 1, |_, r| {
        acc.record(r, &crate::tabular::record_cells(r, tz));
        let at = crate::tabular::fmt_in(&r.occurred_at, tz);
        rows.push(vec![
            at.get(..19).unwrap_or(&at).replace('T', " "),
            format!("{}/{}", r.provider, r.model),
            r.operation.clone(),
            r.investigation.clone().unwrap_or_default(),
            r.user.clone().unwrap_or_default(),
            group_thousands(&r.input_tokens.to_string()),
            group_thousands(&r.output_tokens.to_string()),
            r.cost.map(|c| c.to_string()).unwrap_or_else(|| "unpriced".into()),
        ]);
        Ok(())
    })?;
    progress(1, 2);
    let m = meta(
        req,
        &sc,
        now,
        acc.count,
        acc.totals(&sc.currency),
        acc.prices.iter().copied().collect(),
        std::mem::take(&mut acc.hasher).finish(),
    );
    let mut d = Doc::new(&format!("AI usage records: {}", sc.name), "AI usage records", now)?;
    cover(&mut d, "AI usage records", req, &sc, &m);
    if !rows.is_empty() {
        d.heading(&format!("Records, in time order ({})", m.period.timezone));
        d.para(&format!("Each record's cost in {} is exact, to 9 decimal places.", sc.currency), 8.5, false, rgb(0.35, 0.38, 0.42));
        d.table(
            &["Time", "Provider/model", "Operation", "Investigation", "User", "In tok.", "Out tok.", "Cost"],
            &[36.0, 31.0, 19.0, 22.0, 16.0, 15.0, 15.0, 24.0],
            &[Align::Left, Align::Left, Align::Left, Align::Left, Align::Left, Align::Right, Align::Right, Align::Right],
            &rows,
        );
    }
    d.heading("Verification");
    d.para(&format!("SHA-256 of the {} records in canonical form: {}", n(m.record_count), m.sha256), 8.5, false, rgb(0.1, 0.1, 0.1));
    d.para("The same rows and checksum are exported with `argus-usage export --format csv --kind records` for this period and filters; `argus-usage export verify` checks this file against its metadata file.", 8.5, false, rgb(0.35, 0.38, 0.42));
    out.write_all(&d.finish(&footer(req, &m)))?;
    progress(2, 2);
    Ok(m)
}

/// What an audit entry changed, for reading: the fields whose values differ
/// (`field: before → after`), or the value created or removed; long values
/// are cut (the CSV and JSON have them whole).
fn change_text(before: &Option<serde_json::Value>, after: &Option<serde_json::Value>) -> String {
    use serde_json::Value;
    let short = |v: &Value| {
        let t = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if t.chars().count() > 120 {
            format!("{}…", t.chars().take(120).collect::<String>())
        } else {
            t
        }
    };
    match (before, after) {
        (Some(Value::Object(b)), Some(Value::Object(a))) => {
            let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            let parts: Vec<String> = keys
                .into_iter()
                .filter(|k| b.get(*k) != a.get(*k))
                .map(|k| {
                    let side = |v: Option<&Value>| v.map(short).unwrap_or_else(|| "(none)".into());
                    format!("{k}: {} → {}", side(b.get(k)), side(a.get(k)))
                })
                .collect();
            if parts.is_empty() {
                "no field changed".into()
            } else {
                parts.join("; ")
            }
        }
        (None, Some(a)) => format!("created: {}", short(a)),
        (Some(b), None) => format!("removed: {}", short(b)),
        (Some(b), Some(a)) => format!("{} → {}", short(b), short(a)),
        (None, None) => String::new(),
    }
}

/// An audit PDF: the entries of the period and filters, oldest first, each
/// with what it changed (the rows and checksum of the audit CSV).
fn write_audit_listing(ops: &mut Ops, req: &ExportRequest, out: &mut dyn Write, progress: &mut dyn FnMut(u64, u64)) -> Result<Meta> {
    let sc = scope(ops, req)?;
    let entries = crate::audit::entries(ops, req, &sc)?;
    refuse_long_listing("entries of the audit log", entries.len() as i64)?;
    progress(1, 2);
    let now = ops.now();
    let m = crate::audit::audit_meta(req, &sc, now, &entries);
    let mut d = Doc::new(&format!("Audit log: {}", sc.name), "Audit log", now)?;
    let ink = rgb(0.1, 0.1, 0.1);
    let muted = rgb(0.35, 0.38, 0.42);
    let a = &req.audit;
    let filters: Vec<String> = [("actor contains", &a.actor), ("action contains", &a.action), ("object contains", &a.object)]
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} {v}")))
        .collect();
    masthead(&mut d, "Audit log", req, &sc, &m, &filters, "none (every entry)");
    d.para(&format!("{} entries, oldest first.", n(m.record_count)), 10.0, true, ink.clone());
    if entries.is_empty() {
        d.para("No entry of the audit log matches this period and these filters.", 11.0, true, ink.clone());
    } else {
        let rows: Vec<Vec<String>> = entries
            .iter()
            .map(|e| {
                let at = crate::tabular::fmt_in(&e.at, sc.tz);
                vec![
                    e.id.to_string(),
                    at.get(..19).unwrap_or(&at).replace('T', " "),
                    e.actor.clone(),
                    e.action.clone(),
                    e.object.clone(),
                    change_text(&e.before, &e.after),
                ]
            })
            .collect();
        d.table(
            &["Id", "Time", "Actor", "Action", "Object", "Change"],
            &[12.0, 36.0, 26.0, 24.0, 26.0, 54.0],
            &[Align::Right, Align::Left, Align::Left, Align::Left, Align::Left, Align::Left],
            &rows,
        );
    }
    d.heading("Verification");
    d.para(&format!("SHA-256 of the {} entries in canonical form: {}", n(m.record_count), m.sha256), 8.5, false, ink);
    d.para("The same rows and checksum are exported with `argus-usage export --format csv --kind audit` for this period and filters; `argus-usage export verify` checks this file against its metadata file.", 8.5, false, muted);
    out.write_all(&d.finish(&footer(req, &m)))?;
    progress(2, 2);
    Ok(m)
}

fn footer(req: &ExportRequest, m: &Meta) -> String {
    format!(
        "{} · {} to {} · sha256 {}…",
        req.org,
        m.period.from.get(..10).unwrap_or(""),
        m.period.to.get(..10).unwrap_or(""),
        m.sha256.get(..16).unwrap_or("")
    )
}

pub(crate) fn write(ops: &mut Ops, req: &ExportRequest, out: &mut dyn Write, progress: &mut dyn FnMut(u64, u64)) -> Result<Meta> {
    match req.kind {
        Kind::Records => return write_listing(ops, req, out, progress),
        Kind::Audit => return write_audit_listing(ops, req, out, progress),
        Kind::Summary => {}
    }
    let sc: Scope = scope(ops, req)?;
    let f = gather(ops, req, &sc, progress)?;
    let mut d = Doc::new(&format!("AI usage report: {}", sc.name), "AI usage and cost report", ops.now())?;
    title_page(&mut d, req, &sc, &f);
    breakdowns(&mut d, req, &sc, &f);
    progress(3, 4);
    appendix(&mut d, &sc, &f);
    out.write_all(&d.finish(&footer(req, &f.m)))?;
    progress(4, 4);
    Ok(f.m)
}
