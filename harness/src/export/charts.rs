//! Charts drawn with plotters, each as PNG and SVG from one drawing routine.
//!
//! Text is rasterised with ab_glyph from DejaVu Sans embedded by the `dejavu` crate, so charts render the same on a
//! fresh machine with no system fonts or fontconfig. Large inputs are bounded so rendering stays fast: at most
//! [`MAX_ROWS`] categories per chart and [`MAX_POINTS`] raw points per row (evenly spaced in measurement order; the
//! caption says when points were thinned).

use std::collections::BTreeSet;
use std::sync::Once;

use anyhow::anyhow;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub const MAX_ROWS: usize = 40;
pub const MAX_POINTS: usize = 400;
/// Wide enough for a model card at 100 % and for the longest row labels.
const WIDTH: u32 = 1400;
const FONT: &str = "sans-serif";
/// Text sizes as plotters takes them; it draws glyphs at about 0.8 of this (the SVG's font-size), so the smallest,
/// 18, is 14.5 px on the page.
const TITLE_PX: u32 = 28;
const CAPTION_PX: u32 = 18;
const LABEL_PX: u32 = 19;
const TICK_PX: u32 = 18;
/// Space above the plot for the title and caption lines.
const HEADER_PX: u32 = 78;

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

/// The unit of a chart's values, for tick labels ("3 ms", "2k tok/s", "16 MiB").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Ms,
    TokensPerS,
    Mib,
    /// A dimensionless ratio (candidate ÷ reference): "0.95×".
    Ratio,
    /// A plain count (token positions).
    Count,
    Seconds,
    Mhz,
    Celsius,
    Watts,
    Joules,
}

impl Unit {
    /// `Metric::display_unit`'s unit name.
    pub fn of(name: &str) -> Self {
        match name {
            "ms" => Unit::Ms,
            "MiB" => Unit::Mib,
            "W" => Unit::Watts,
            "J" => Unit::Joules,
            _ => Unit::TokensPerS,
        }
    }

    /// A value in this unit, with as many digits as it needs (3 significant ones at most).
    pub fn label(self, v: f64) -> String {
        match self {
            Unit::Ms if v.abs() < 1.0 && v != 0.0 => format!("{} µs", number(v * 1000.0)),
            Unit::Ms if v.abs() >= 1000.0 => format!("{} s", number(v / 1000.0)),
            Unit::Ms => format!("{} ms", number(v)),
            Unit::TokensPerS if v.abs() >= 1000.0 => format!("{}k tok/s", number(v / 1000.0)),
            Unit::TokensPerS => format!("{} tok/s", number(v)),
            Unit::Mib if v.abs() >= 1024.0 => format!("{} GiB", number(v / 1024.0)),
            Unit::Mib => format!("{} MiB", number(v)),
            Unit::Ratio => format!("{}×", number(v)),
            Unit::Count => number(v),
            Unit::Seconds => format!("{} s", number(v)),
            Unit::Mhz => format!("{} MHz", number(v)),
            Unit::Celsius => format!("{} °C", number(v)),
            Unit::Watts if v.abs() < 1.0 && v != 0.0 => format!("{} mW", number(v * 1000.0)),
            Unit::Watts => format!("{} W", number(v)),
            Unit::Joules if v.abs() < 1.0 && v != 0.0 => format!("{} mJ", number(v * 1000.0)),
            Unit::Joules => format!("{} J", number(v)),
        }
    }
}

/// 3 significant digits, trailing zeros dropped: 3.30 → "3.3", 50 → "50", 0.25 → "0.25", 1234 → "1234".
fn number(v: f64) -> String {
    let digits = if v == 0.0 { 0 } else { (2 - v.abs().log10().floor() as i32).clamp(0, 6) as usize };
    let text = format!("{v:.digits$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

#[derive(Debug, Clone)]
pub enum Spec {
    Box {
        rows: Vec<BoxRow>,
        x_label: String,
        unit: Unit,
    },
    Bars {
        bars: Vec<Bar>,
        x_label: String,
        unit: Unit,
    },
    /// `reference`: a horizontal line at that value with its label (1.0 for ratios to a reference); the value axis
    /// then stays linear and always shows it.
    Trend {
        lines: Vec<Line>,
        y_label: String,
        unit: Unit,
        reference: Option<(f64, String)>,
    },
    /// Panels stacked over one shared x axis (token position, seconds): each a set of lines (x, median, lower,
    /// upper) with a band between lower and upper. Every panel's lines share the legend's colours by label.
    Panels {
        panels: Vec<Panel>,
        x_label: String,
        x_unit: Unit,
    },
}

/// One panel of [`Spec::Panels`].
#[derive(Debug, Clone)]
pub struct Panel {
    pub lines: Vec<Line>,
    pub y_label: String,
    pub unit: Unit,
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

/// A value axis: linear, or log10 when the values span more than 10× (a 3 ms box next to a 50 ms one would
/// otherwise be a tick). Values are mapped into axis space before drawing; ticks are 1-2-5 steps in the unit.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Axis {
    log: bool,
    /// Range in axis space (log10 of the value when `log`).
    lo: f64,
    hi: f64,
    unit: Unit,
}

impl Axis {
    /// Above this max/min ratio the axis is logarithmic.
    const LOG_ABOVE: f64 = 10.0;

    fn new(lo: f64, hi: f64, unit: Unit, allow_log: bool) -> Self {
        if allow_log && lo > 0.0 && hi / lo > Self::LOG_ABOVE {
            return Self { log: true, lo: (lo / 1.25).log10(), hi: (hi * 1.25).log10(), unit };
        }
        let span = (hi - lo).max(hi.abs() * 0.05).max(1e-9);
        // Power starts at zero: a steady draw is a flat line at its level, not noise magnified around it.
        let start =
            if lo - span * 0.05 < span * 0.5 || (unit == Unit::Watts && lo >= 0.0) { 0.0 } else { lo - span * 0.05 };
        let headroom = if start == 0.0 { span.max(hi) } else { span } * 0.08;
        Self { log: false, lo: start, hi: hi + headroom, unit }
    }

    fn map(&self, v: f64) -> f64 {
        if self.log {
            v.max(1e-12).log10()
        } else {
            v
        }
    }

    fn value(&self, x: f64) -> f64 {
        if self.log {
            10f64.powf(x)
        } else {
            x
        }
    }

    /// Labelled ticks and light grid lines, in axis space.
    fn ticks(&self) -> (Vec<f64>, Vec<f64>) {
        let inside = |x: &f64| *x >= self.lo - 1e-9 && *x <= self.hi + 1e-9;
        if self.log {
            let (first, last) = (self.lo.floor() as i32, self.hi.ceil() as i32);
            let decade = |k: i32, m: &[f64]| m.iter().map(move |m| (m * 10f64.powi(k)).log10()).collect::<Vec<_>>();
            let mut bold: Vec<f64> = (first..=last).flat_map(|k| decade(k, &[1.0, 2.0, 5.0])).filter(inside).collect();
            if bold.len() > 12 {
                bold = (first..=last).flat_map(|k| decade(k, &[1.0])).filter(inside).collect();
            }
            let light = (first..=last)
                .flat_map(|k| decade(k, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]))
                .filter(inside)
                .collect();
            return (bold, light);
        }
        let raw = (self.hi - self.lo) / 7.0;
        let magnitude = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(10.0 * magnitude);
        let ticks = |step: f64| {
            let first = (self.lo / step).ceil() as i64;
            let last = (self.hi / step).floor() as i64;
            (first..=last).map(|i| i as f64 * step).collect::<Vec<_>>()
        };
        (ticks(step), ticks(step / 5.0))
    }

    fn coord(&self) -> TickedRange {
        let (bold, light) = self.ticks();
        TickedRange { lo: self.lo, hi: self.hi, bold, light }
    }

    fn tick_label(&self, x: &f64) -> String {
        self.unit.label(self.value(*x))
    }

    fn describe(&self, label: &str) -> String {
        if self.log {
            format!("{label}, log scale")
        } else {
            label.to_owned()
        }
    }
}

/// A linear f64 range whose ticks are given (plotters' own f64 range picks its ticks and formats them itself).
struct TickedRange {
    lo: f64,
    hi: f64,
    bold: Vec<f64>,
    light: Vec<f64>,
}

impl Ranged for TickedRange {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let frac = if self.hi > self.lo { (v - self.lo) / (self.hi - self.lo) } else { 0.5 };
        limit.0 + (f64::from(limit.1 - limit.0) * frac).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.light.clone()
        } else {
            self.bold.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

fn label_area(labels: impl Iterator<Item = usize>) -> u32 {
    (labels.max().unwrap_or(10) as u32 * (LABEL_PX * 58 / 100) + 24).clamp(80, 620)
}

/// Rows top to bottom in input order (the y axis grows upwards).
fn row_y(i: usize, n: usize) -> f64 {
    (n - 1 - i) as f64
}

type RowChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<TickedRange, RangedCoordf64>>;

/// Title and caption (device, date, versions) above the plot; returns the area left for it.
fn header<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    caption: &str,
) -> Result<DrawingArea<DB, Shift>, String> {
    let (top, body) = root.split_vertically(HEADER_PX);
    let (w, _) = top.dim_in_pixel();
    let centre = Pos::new(HPos::Center, VPos::Top);
    top.draw(&Text::new(
        title.to_owned(),
        (w as i32 / 2, 10),
        TextStyle::from((FONT, TITLE_PX).into_font()).pos(centre),
    ))
    .map_err(err)?;
    top.draw(&Text::new(
        caption.to_owned(),
        (w as i32 / 2, 14 + TITLE_PX as i32 + 6),
        TextStyle::from((FONT, CAPTION_PX).into_font()).color(&RGBColor(80, 80, 80)).pos(centre),
    ))
    .map_err(err)?;
    Ok(body)
}

/// The row chart on `area` (below the header); row labels are drawn on `root`, whose coordinates are the backend's.
fn categorical<'a, DB: DrawingBackend + 'a>(
    root: &DrawingArea<DB, Shift>,
    area: &'a DrawingArea<DB, Shift>,
    labels: &[String],
    axis: &Axis,
    x_label: &str,
) -> Result<RowChart<'a, DB>, String> {
    let n = labels.len();
    let mut chart = ChartBuilder::on(area)
        .margin(16)
        .margin_right(40)
        .x_label_area_size(60)
        .y_label_area_size(label_area(labels.iter().map(|l| l.chars().count())))
        .build_cartesian_2d(axis.coord(), -0.5..n as f64 - 0.5)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_label_formatter(&|x| axis.tick_label(x))
        .x_desc(axis.describe(x_label))
        .x_label_style((FONT, TICK_PX))
        .axis_desc_style((FONT, LABEL_PX))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(200, 200, 200))
        .draw()
        .map_err(err)?;
    // Category names drawn by hand: plotters' numeric axis would put labels between rows.
    let style = TextStyle::from((FONT, LABEL_PX).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
    for (i, label) in labels.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(axis.lo, row_y(i, n)));
        root.draw(&Text::new(label.clone(), (px - 10, py), style.clone())).map_err(err)?;
    }
    Ok(chart)
}

/// A value printed just right of `x` on row `y` (on `root`: backend coordinates).
fn value_text<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &RowChart<'_, DB>,
    x: f64,
    y: f64,
    text: String,
) -> DrawResult {
    let (px, py) = chart.backend_coord(&(x, y));
    let style = TextStyle::from((FONT, TICK_PX).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    root.draw(&Text::new(text, (px + 8, py), style)).map_err(err)
}

fn draw_box<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    caption: &str,
    rows: &[BoxRow],
    x_label: &str,
    unit: Unit,
) -> DrawResult {
    let area = header(root, title, caption)?;
    let labels: Vec<String> = rows.iter().map(|r| r.label.clone()).collect();
    let all = rows.iter().flat_map(|r| r.values.iter().copied());
    let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    let axis = Axis::new(lo, hi, unit, true);
    let mut chart = categorical(root, &area, &labels, &axis, x_label)?;
    let m = |v: f64| axis.map(v);
    for (i, row) in rows.iter().enumerate() {
        let y = row_y(i, rows.len());
        let c = color(row.color);
        let mut sorted = row.values.clone();
        sorted.sort_by(f64::total_cmp);
        let quantile = |q: f64| crate::stats::quantile_sorted(&sorted, q);
        let (q1, med, q3) = (quantile(0.25), quantile(0.5), quantile(0.75));
        let (lo_fence, hi_fence) = (q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1));
        let whisk_lo = sorted.iter().copied().find(|&v| v >= lo_fence).unwrap_or(q1);
        let whisk_hi = sorted.iter().rev().copied().find(|&v| v <= hi_fence).unwrap_or(q3);
        let h = 0.28;
        let shapes = [
            PathElement::new(vec![(m(whisk_lo), y), (m(q1), y)], c.stroke_width(2)),
            PathElement::new(vec![(m(q3), y), (m(whisk_hi), y)], c.stroke_width(2)),
            PathElement::new(vec![(m(whisk_lo), y - h / 2.0), (m(whisk_lo), y + h / 2.0)], c.stroke_width(2)),
            PathElement::new(vec![(m(whisk_hi), y - h / 2.0), (m(whisk_hi), y + h / 2.0)], c.stroke_width(2)),
            PathElement::new(vec![(m(med), y - h), (m(med), y + h)], BLACK.stroke_width(3)),
        ];
        chart.draw_series([Rectangle::new([(m(q1), y - h), (m(q3), y + h)], c.mix(0.25).filled())]).map_err(err)?;
        chart.draw_series([Rectangle::new([(m(q1), y - h), (m(q3), y + h)], c.stroke_width(2))]).map_err(err)?;
        chart.draw_series(shapes).map_err(err)?;
        // Raw points, spread over the box height with a deterministic jitter so repeats stay visible.
        let points = thin(&row.values, MAX_POINTS);
        let n = points.len().max(1) as f64;
        chart
            .draw_series(points.iter().enumerate().map(|(k, &v)| {
                let jitter = ((k * 7919) % 97) as f64 / 97.0 - 0.5;
                Circle::new((m(v), y + jitter * h * 1.6 * (n.min(8.0) / 8.0)), 3, c.mix(0.7).filled())
            }))
            .map_err(err)?;
        // The median in words just above its box, where a neighbouring row's points never reach.
        let (px, py) = chart.backend_coord(&(m(med), y + h));
        let style = TextStyle::from((FONT, TICK_PX).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
        root.draw(&Text::new(format!("median {}", unit.label(med)), (px, py - 3), style)).map_err(err)?;
    }
    root.present().map_err(err)
}

fn draw_bars<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    caption: &str,
    bars: &[Bar],
    x_label: &str,
    unit: Unit,
) -> DrawResult {
    let area = header(root, title, caption)?;
    let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
    let hi = bars.iter().map(|b| b.upper.max(b.value)).fold(0.0, f64::max);
    // Bars start at zero, so the axis stays linear; each bar carries its value, so a short one is still read.
    let axis = Axis::new(0.0, (hi * 1.2).max(1e-9), unit, false);
    let mut chart = categorical(root, &area, &labels, &axis, x_label)?;
    for (i, b) in bars.iter().enumerate() {
        let (y, c, h) = (row_y(i, bars.len()), color(b.color), 0.3);
        chart.draw_series([Rectangle::new([(0.0, y - h), (b.value, y + h)], c.mix(0.8).filled())]).map_err(err)?;
        if b.upper > b.lower {
            chart
                .draw_series([
                    PathElement::new(vec![(b.lower, y), (b.upper, y)], BLACK.stroke_width(2)),
                    PathElement::new(vec![(b.lower, y - h / 2.0), (b.lower, y + h / 2.0)], BLACK.stroke_width(2)),
                    PathElement::new(vec![(b.upper, y - h / 2.0), (b.upper, y + h / 2.0)], BLACK.stroke_width(2)),
                ])
                .map_err(err)?;
        }
        value_text(root, &chart, b.value.max(b.upper), y, unit.label(b.value))?;
    }
    root.present().map_err(err)
}

fn date_label(secs: &f64) -> String {
    chrono::DateTime::from_timestamp(*secs as i64, 0).map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

/// The legend's entries: every line, then the reference line when there is one.
fn legend_labels<'a>(lines: &'a [Line], reference: Option<&'a (f64, String)>) -> Vec<&'a str> {
    lines.iter().map(|l| l.label.as_str()).chain(reference.map(|(_, l)| l.as_str())).collect()
}

/// Legend entries per row below a trend, and the number of rows.
fn legend_layout(labels: &[&str]) -> (usize, usize) {
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let per_row = if longest > 40 { 2 } else { 3 };
    (per_row, labels.len().div_ceil(per_row).max(1))
}

const LEGEND_ROW_PX: u32 = 30;

/// The legend under the plot, where it never hides a line; an entry past the lines is the dashed reference line.
fn draw_legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, labels: &[&str], lines: usize) -> DrawResult {
    let (per_row, _) = legend_layout(labels);
    let (w, _) = area.dim_in_pixel();
    let column = (w as i32 - 80) / per_row as i32;
    let style = TextStyle::from((FONT, LABEL_PX).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, label) in labels.iter().enumerate() {
        let (x, y) = (40 + column * (i % per_row) as i32, 14 + LEGEND_ROW_PX as i32 * (i / per_row) as i32);
        if i < lines {
            area.draw(&PathElement::new(vec![(x, y), (x + 28, y)], color(i).stroke_width(4))).map_err(err)?;
            area.draw(&Circle::new((x + 14, y), 5, color(i).filled())).map_err(err)?;
        } else {
            area.draw(&plotters::element::DashedPathElement::new(
                vec![(x, y), (x + 28, y)],
                8,
                4,
                BLACK.mix(0.7).stroke_width(2),
            ))
            .map_err(err)?;
        }
        area.draw(&Text::new(label.to_string(), (x + 38, y), style.clone())).map_err(err)?;
    }
    Ok(())
}

/// Dates under the points (one tick per night, thinned to at most 10 labels).
fn date_axis(lines: &[Line], lo: f64, hi: f64) -> TickedRange {
    let nights: BTreeSet<i64> = lines.iter().flat_map(|l| l.points.iter().map(|p| p.0 as i64)).collect();
    let step = nights.len().div_ceil(10).max(1);
    let bold: Vec<f64> = nights.iter().step_by(step).map(|&x| x as f64).collect();
    TickedRange { lo, hi, light: nights.iter().map(|&x| x as f64).collect(), bold }
}

fn draw_trend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    caption: &str,
    lines: &[Line],
    y_label: &str,
    unit: Unit,
    reference: Option<&(f64, String)>,
) -> DrawResult {
    let area = header(root, title, caption)?;
    let labels = legend_labels(lines, reference);
    let (_, legend_rows) = legend_layout(&labels);
    let (_, height) = area.dim_in_pixel();
    let (plot, legend) = area.split_vertically(height.saturating_sub(legend_rows as u32 * LEGEND_ROW_PX + 12));
    let pts = || lines.iter().flat_map(|l| l.points.iter());
    let (x0, x1) = pts().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (mut y0, mut y1) = pts().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.2), b.max(p.3)));
    if let Some((r, _)) = reference {
        // Room around the reference line, so a flat series at 1.0 is not a line on the plot's edge.
        (y0, y1) = (y0.min(r * 0.97), y1.max(r * 1.03));
    }
    let pad = ((x1 - x0) * 0.05).max(12.0 * 3600.0);
    let axis = Axis::new(y0, y1, unit, reference.is_none());
    let m = |v: f64| axis.map(v);
    let mut chart = ChartBuilder::on(&plot)
        .margin(16)
        .margin_right(40)
        .x_label_area_size(50)
        .y_label_area_size(120)
        .build_cartesian_2d(date_axis(lines, x0 - pad, x1 + pad), axis.coord())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_label_formatter(&date_label)
        .y_label_formatter(&|y| axis.tick_label(y))
        .y_desc(axis.describe(y_label))
        .label_style((FONT, TICK_PX))
        .axis_desc_style((FONT, LABEL_PX))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(200, 200, 200))
        .draw()
        .map_err(err)?;
    // The reference line is named in the legend, where its label never sits on a point.
    if let Some((r, _)) = reference {
        let (lo, hi) = (x0 - pad, x1 + pad);
        chart
            .draw_series(DashedLineSeries::new([(lo, m(*r)), (hi, m(*r))], 10, 6, BLACK.mix(0.7).stroke_width(2)))
            .map_err(err)?;
    }
    // Series sit side by side around each night, so whiskers of lines with close values do not merge.
    let dodge = (x1 - x0 + 2.0 * pad) * 0.006;
    for (i, line) in lines.iter().enumerate() {
        let c = color(i);
        let dx = dodge * (i as f64 - (lines.len() - 1) as f64 / 2.0);
        let mut band: Vec<(f64, f64)> = line.points.iter().map(|p| (p.0 + dx, m(p.3))).collect();
        band.extend(line.points.iter().rev().map(|p| (p.0 + dx, m(p.2))));
        chart.draw_series([Polygon::new(band, c.mix(0.08).filled())]).map_err(err)?;
        chart
            .draw_series(
                line.points
                    .iter()
                    .map(|p| PathElement::new(vec![(p.0 + dx, m(p.2)), (p.0 + dx, m(p.3))], c.stroke_width(2))),
            )
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(line.points.iter().map(|p| (p.0 + dx, m(p.1))), c.stroke_width(2)))
            .map_err(err)?;
        chart.draw_series(line.points.iter().map(|p| Circle::new((p.0 + dx, m(p.1)), 5, c.filled()))).map_err(err)?;
    }
    draw_legend(&legend, &labels, lines.len())?;
    root.present().map_err(err)
}

fn draw_panels<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    caption: &str,
    panels: &[Panel],
    x_label: &str,
    x_unit: Unit,
) -> DrawResult {
    let area = header(root, title, caption)?;
    // One legend for all panels: every distinct label, in first-seen order, coloured by that order.
    let mut labels: Vec<&str> = Vec::new();
    for line in panels.iter().flat_map(|p| &p.lines) {
        if !labels.contains(&line.label.as_str()) {
            labels.push(&line.label);
        }
    }
    let (_, legend_rows) = legend_layout(&labels);
    let (_, height) = area.dim_in_pixel();
    let (plot, legend) = area.split_vertically(height.saturating_sub(legend_rows as u32 * LEGEND_ROW_PX + 12));
    let all = || panels.iter().flat_map(|p| p.lines.iter().flat_map(|l| l.points.iter()));
    let (x0, x1) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.0), b.max(p.0)));
    if !x0.is_finite() {
        return Err("no points to draw".into());
    }
    let x_axis = Axis::new(x0, x1.max(x0 + 1.0), x_unit, false);
    let rows = plot.split_evenly((panels.len().max(1), 1));
    for (i, (panel, area)) in panels.iter().zip(rows.iter()).enumerate() {
        let pts = || panel.lines.iter().flat_map(|l| l.points.iter());
        let (y0, y1) = pts().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.2), b.max(p.3)));
        if !y0.is_finite() {
            continue;
        }
        // Log scale when the lines span more than 10× (a 6 ms line beside a 0.3 ms one), as the other charts do.
        let axis = Axis::new(y0, y1, panel.unit, true);
        let m = |v: f64| axis.map(v);
        let y_desc = axis.describe(&panel.y_label);
        let last = i + 1 == panels.len();
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .margin_right(40)
            .x_label_area_size(if last { 50 } else { 24 })
            .y_label_area_size(140)
            .build_cartesian_2d(x_axis.coord(), axis.coord())
            .map_err(err)?;
        let x_fmt = |x: &f64| if last { x_axis.tick_label(x) } else { String::new() };
        let y_fmt = |y: &f64| axis.tick_label(y);
        let mut mesh = chart.configure_mesh();
        mesh.x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .y_desc(y_desc.as_str())
            .label_style((FONT, TICK_PX))
            .axis_desc_style((FONT, LABEL_PX))
            .light_line_style(RGBColor(235, 235, 235))
            .bold_line_style(RGBColor(200, 200, 200));
        if last {
            mesh.x_desc(x_label);
        }
        mesh.draw().map_err(err)?;
        for line in &panel.lines {
            let c = color(labels.iter().position(|l| *l == line.label).unwrap_or(0));
            let mut band: Vec<(f64, f64)> = line.points.iter().map(|p| (p.0, m(p.3))).collect();
            band.extend(line.points.iter().rev().map(|p| (p.0, m(p.2))));
            chart.draw_series([Polygon::new(band, c.mix(0.12).filled())]).map_err(err)?;
            chart
                .draw_series(LineSeries::new(line.points.iter().map(|p| (p.0, m(p.1))), c.stroke_width(2)))
                .map_err(err)?;
            if line.points.len() <= 60 {
                chart
                    .draw_series(line.points.iter().map(|p| Circle::new((p.0, m(p.1)), 4, c.filled())))
                    .map_err(err)?;
            }
        }
    }
    draw_legend(&legend, &labels, labels.len())?;
    root.present().map_err(err)
}

impl Spec {
    fn rows(&self) -> usize {
        match self {
            Spec::Panels { panels, .. } => 5 * panels.len() + 1,
            Spec::Box { rows, .. } => rows.len(),
            Spec::Bars { bars, .. } => bars.len(),
            Spec::Trend { lines, reference, .. } => 7 + legend_layout(&legend_labels(lines, reference.as_ref())).1 / 2,
        }
    }

    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>, title: &str, caption: &str) -> DrawResult {
        root.fill(&WHITE).map_err(err)?;
        match self {
            Spec::Box { rows, x_label, unit } => draw_box(&root, title, caption, rows, x_label, *unit),
            Spec::Bars { bars, x_label, unit } => draw_bars(&root, title, caption, bars, x_label, *unit),
            Spec::Trend { lines, y_label, unit, reference } => {
                draw_trend(&root, title, caption, lines, y_label, *unit, reference.as_ref())
            }
            Spec::Panels { panels, x_label, x_unit } => draw_panels(&root, title, caption, panels, x_label, *x_unit),
        }
    }

    /// Renders PNG and SVG of the same drawing: `title` on top, `caption` (where and when it was measured) below it.
    pub fn render(&self, name: &str, title: &str, caption: &str) -> anyhow::Result<Chart> {
        register_font();
        let size = (WIDTH, (HEADER_PX + 90 + 64 * self.rows() as u32).max(420));
        let mut svg = String::new();
        self.draw(SVGBackend::with_string(&mut svg, size).into_drawing_area(), title, caption)
            .map_err(|e| anyhow!("drawing {name}.svg: {e}"))?;
        let mut rgb = vec![0u8; (size.0 * size.1 * 3) as usize];
        self.draw(BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area(), title, caption)
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
        let chart = Spec::Box { rows, x_label: "latency".into(), unit: Unit::Ms }
            .render("latency", "Latency", "local · 2026-11-28")
            .unwrap();
        assert_eq!(&chart.png[1..4], b"PNG");
        assert!(
            chart.svg.contains("variant-a") && chart.svg.contains("latency") && chart.svg.contains("2026-11-28"),
            "{}",
            chart.svg
        );
        assert!(
            chart.svg.contains("3 ms") && chart.svg.contains("median 1.15 ms"),
            "ticks and medians in units: {}",
            chart.svg
        );
    }

    #[test]
    fn values_spanning_more_than_ten_times_get_a_log_axis_with_unit_ticks() {
        let axis = Axis::new(3.0, 50.0, Unit::Ms, true);
        assert!(axis.log);
        let labels: Vec<String> = axis.ticks().0.iter().map(|x| axis.tick_label(x)).collect();
        assert_eq!(labels, ["5 ms", "10 ms", "20 ms", "50 ms"]);
        let linear = Axis::new(3.0, 6.0, Unit::Ms, true);
        assert!(!linear.log);
        assert!(linear.ticks().0.iter().all(|x| !axis.unit.label(*x).contains('.') || axis.unit.label(*x).len() < 8));
    }

    #[test]
    fn unit_labels_are_short_and_exact() {
        assert_eq!(Unit::Ms.label(3.0), "3 ms");
        assert_eq!(Unit::Ms.label(3.3), "3.3 ms");
        assert_eq!(Unit::Ms.label(0.5), "500 µs");
        assert_eq!(Unit::Ms.label(52.43), "52.4 ms");
        assert_eq!(Unit::Ms.label(2500.0), "2.5 s");
        assert_eq!(Unit::TokensPerS.label(9696.0), "9.7k tok/s");
        assert_eq!(Unit::TokensPerS.label(611.0), "611 tok/s");
        assert_eq!(Unit::Mib.label(14.5), "14.5 MiB");
        assert_eq!(Unit::Mib.label(0.0), "0 MiB");
        assert_eq!(Unit::Ratio.label(1.0), "1×");
        assert_eq!(Unit::Ratio.label(0.953), "0.953×");
    }
}
