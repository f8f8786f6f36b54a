//! Charts drawn with plotters, each as PNG and SVG from one drawing routine.
//!
//! Text is rasterised with ab_glyph from DejaVu Sans embedded by the `dejavu` crate, so charts render the same on a
//! fresh machine with no system fonts or fontconfig. Large inputs are bounded so rendering stays fast: at most
//! [`MAX_ROWS`] categories per chart and [`MAX_POINTS`] raw points per row (evenly spaced in measurement order; the
//! caption says when points were thinned).

use std::sync::Once;

use anyhow::anyhow;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub const MAX_ROWS: usize = 40;
pub const MAX_POINTS: usize = 400;
const WIDTH: u32 = 960;
const FONT: &str = "sans-serif";

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The embedded font is a valid TrueType file, so registration cannot fail.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
    });
}

/// One chart, rendered both ways. `name` is the file stem.
#[derive(Debug, Clone)]
pub struct Chart {
    pub name: String,
    pub title: String,
    pub png: Vec<u8>,
    pub svg: String,
}

/// Raw values of one row of a box plot (already in display units).
#[derive(Debug, Clone)]
pub struct BoxRow {
    pub label: String,
    pub values: Vec<f64>,
    pub color: usize,
}

#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub lower: f64,
    pub upper: f64,
    pub color: usize,
}

/// A trend: (x, median, lower, upper) points in time order; x is seconds since the epoch.
#[derive(Debug, Clone)]
pub struct Line {
    pub label: String,
    pub points: Vec<(f64, f64, f64, f64)>,
}

#[derive(Debug, Clone)]
pub enum Spec {
    Box { rows: Vec<BoxRow>, x_label: String },
    Bars { bars: Vec<Bar>, x_label: String },
    Trend { lines: Vec<Line>, y_label: String },
}

type DrawResult = Result<(), String>;

fn color(i: usize) -> RGBColor {
    const COLORS: [RGBColor; 8] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(23, 190, 207),
    ];
    COLORS[i % COLORS.len()]
}

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

/// Evenly spaced subset of at most `max` points, in order.
fn thin(values: &[f64], max: usize) -> Vec<f64> {
    if values.len() <= max {
        return values.to_vec();
    }
    (0..max).map(|i| values[i * values.len() / max]).collect()
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// x range with 5 % headroom, starting at 0 when the data is close to it.
fn value_range(lo: f64, hi: f64) -> std::ops::Range<f64> {
    let span = (hi - lo).max(hi.abs() * 0.05).max(1e-9);
    let start = if lo - span * 0.05 < span * 0.5 { 0.0 } else { lo - span * 0.05 };
    start..hi + span * 0.05
}

fn label_area(labels: impl Iterator<Item = usize>) -> u32 {
    (labels.max().unwrap_or(10) as u32 * 7 + 16).clamp(60, 420)
}

/// Rows top to bottom in input order (the y axis grows upwards).
fn row_y(i: usize, n: usize) -> f64 {
    (n - 1 - i) as f64
}

fn categorical<'a, DB: DrawingBackend + 'a>(
    root: &'a DrawingArea<DB, Shift>,
    title: &str,
    labels: &[String],
    x: std::ops::Range<f64>,
    x_label: &str,
) -> Result<ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>, String> {
    let n = labels.len();
    let x0 = x.start;
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(label_area(labels.iter().map(|l| l.chars().count())))
        .build_cartesian_2d(x, -0.5..n as f64 - 0.5)
        .map_err(err)?;
    chart.configure_mesh().disable_y_mesh().y_labels(0).x_desc(x_label).label_style((FONT, 12)).draw().map_err(err)?;
    // Category names drawn by hand: plotters' numeric axis would put labels between rows.
    let style = TextStyle::from((FONT, 12).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
    for (i, label) in labels.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(x0, row_y(i, n)));
        root.draw(&Text::new(label.clone(), (px - 8, py), style.clone())).map_err(err)?;
    }
    Ok(chart)
}

fn draw_box<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, title: &str, rows: &[BoxRow], x_label: &str) -> DrawResult {
    let labels: Vec<String> = rows.iter().map(|r| r.label.clone()).collect();
    let all = rows.iter().flat_map(|r| r.values.iter().copied());
    let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    let mut chart = categorical(root, title, &labels, value_range(lo, hi), x_label)?;
    for (i, row) in rows.iter().enumerate() {
        let y = row_y(i, rows.len());
        let c = color(row.color);
        let mut sorted = row.values.clone();
        sorted.sort_by(f64::total_cmp);
        let (q1, med, q3) = (quantile(&sorted, 0.25), quantile(&sorted, 0.5), quantile(&sorted, 0.75));
        let (lo_fence, hi_fence) = (q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1));
        let whisk_lo = sorted.iter().copied().find(|&v| v >= lo_fence).unwrap_or(q1);
        let whisk_hi = sorted.iter().rev().copied().find(|&v| v <= hi_fence).unwrap_or(q3);
        let h = 0.28;
        let shapes = [
            PathElement::new(vec![(whisk_lo, y), (q1, y)], c.stroke_width(1)),
            PathElement::new(vec![(q3, y), (whisk_hi, y)], c.stroke_width(1)),
            PathElement::new(vec![(whisk_lo, y - h / 2.0), (whisk_lo, y + h / 2.0)], c.stroke_width(1)),
            PathElement::new(vec![(whisk_hi, y - h / 2.0), (whisk_hi, y + h / 2.0)], c.stroke_width(1)),
            PathElement::new(vec![(med, y - h), (med, y + h)], BLACK.stroke_width(2)),
        ];
        chart.draw_series([Rectangle::new([(q1, y - h), (q3, y + h)], c.mix(0.25).filled())]).map_err(err)?;
        chart.draw_series([Rectangle::new([(q1, y - h), (q3, y + h)], c.stroke_width(1))]).map_err(err)?;
        chart.draw_series(shapes).map_err(err)?;
        // Raw points, spread over the box height with a deterministic jitter so repeats stay visible.
        let points = thin(&row.values, MAX_POINTS);
        let n = points.len().max(1) as f64;
        chart
            .draw_series(points.iter().enumerate().map(|(k, &v)| {
                let jitter = ((k * 7919) % 97) as f64 / 97.0 - 0.5;
                Circle::new((v, y + jitter * h * 1.6 * (n.min(8.0) / 8.0)), 2, c.mix(0.7).filled())
            }))
            .map_err(err)?;
    }
    root.present().map_err(err)
}

fn draw_bars<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, title: &str, bars: &[Bar], x_label: &str) -> DrawResult {
    let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
    let hi = bars.iter().map(|b| b.upper.max(b.value)).fold(0.0, f64::max);
    let mut chart = categorical(root, title, &labels, 0.0..(hi * 1.08).max(1e-9), x_label)?;
    for (i, b) in bars.iter().enumerate() {
        let (y, c, h) = (row_y(i, bars.len()), color(b.color), 0.3);
        chart.draw_series([Rectangle::new([(0.0, y - h), (b.value, y + h)], c.mix(0.8).filled())]).map_err(err)?;
        if b.upper > b.lower {
            chart
                .draw_series([
                    PathElement::new(vec![(b.lower, y), (b.upper, y)], BLACK.stroke_width(1)),
                    PathElement::new(vec![(b.lower, y - h / 2.0), (b.lower, y + h / 2.0)], BLACK.stroke_width(1)),
                    PathElement::new(vec![(b.upper, y - h / 2.0), (b.upper, y + h / 2.0)], BLACK.stroke_width(1)),
                ])
                .map_err(err)?;
        }
    }
    root.present().map_err(err)
}

fn date_label(secs: &f64) -> String {
    chrono::DateTime::from_timestamp(*secs as i64, 0).map(|d| d.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default()
}

fn draw_trend<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, title: &str, lines: &[Line], y_label: &str) -> DrawResult {
    let pts = || lines.iter().flat_map(|l| l.points.iter());
    let (x0, x1) = pts().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (y0, y1) = pts().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.2), b.max(p.3)));
    let pad = ((x1 - x0) * 0.03).max(60.0);
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x0 - pad..x1 + pad, value_range(y0, y1))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_labels(4)
        .x_label_formatter(&date_label)
        .y_desc(y_label)
        .label_style((FONT, 12))
        .draw()
        .map_err(err)?;
    for (i, line) in lines.iter().enumerate() {
        let c = color(i);
        let mut band: Vec<(f64, f64)> = line.points.iter().map(|p| (p.0, p.3)).collect();
        band.extend(line.points.iter().rev().map(|p| (p.0, p.2)));
        chart.draw_series([Polygon::new(band, c.mix(0.15).filled())]).map_err(err)?;
        chart
            .draw_series(LineSeries::new(line.points.iter().map(|p| (p.0, p.1)), c.stroke_width(2)))
            .map_err(err)?
            .label(line.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2)));
        chart.draw_series(line.points.iter().map(|p| Circle::new((p.0, p.1), 3, c.filled()))).map_err(err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font((FONT, 12))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

impl Spec {
    fn rows(&self) -> usize {
        match self {
            Spec::Box { rows, .. } => rows.len(),
            Spec::Bars { bars, .. } => bars.len(),
            Spec::Trend { .. } => 8,
        }
    }

    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>, title: &str) -> DrawResult {
        root.fill(&WHITE).map_err(err)?;
        match self {
            Spec::Box { rows, x_label } => draw_box(&root, title, rows, x_label),
            Spec::Bars { bars, x_label } => draw_bars(&root, title, bars, x_label),
            Spec::Trend { lines, y_label } => draw_trend(&root, title, lines, y_label),
        }
    }

    /// Renders PNG and SVG of the same drawing.
    pub fn render(&self, name: &str, title: &str) -> anyhow::Result<Chart> {
        register_font();
        let size = (WIDTH, (110 + 34 * self.rows() as u32).max(300));
        let mut svg = String::new();
        self.draw(SVGBackend::with_string(&mut svg, size).into_drawing_area(), title)
            .map_err(|e| anyhow!("drawing {name}.svg: {e}"))?;
        let mut rgb = vec![0u8; (size.0 * size.1 * 3) as usize];
        self.draw(BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area(), title)
            .map_err(|e| anyhow!("drawing {name}.png: {e}"))?;
        Ok(Chart { name: name.to_owned(), title: title.to_owned(), png: encode_png(&rgb, size)?, svg })
    }
}

fn encode_png(rgb: &[u8], (w, h): (u32, u32)) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Default);
    let mut writer = enc.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thin_keeps_order_and_bounds() {
        let v: Vec<f64> = (0..1000).map(f64::from).collect();
        let t = thin(&v, 10);
        assert_eq!(t.len(), 10);
        assert!(t.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(thin(&v[..5], 10).len(), 5);
    }

    #[test]
    fn a_box_plot_renders_png_and_svg_with_text() {
        let rows = vec![BoxRow { label: "variant-a · local".into(), values: vec![1.0, 1.1, 1.2, 3.0], color: 0 }];
        let chart = Spec::Box { rows, x_label: "latency (ms)".into() }.render("latency", "Latency").unwrap();
        assert_eq!(&chart.png[1..4], b"PNG");
        assert!(chart.svg.contains("variant-a") && chart.svg.contains("latency (ms)"), "{}", chart.svg);
    }
}
