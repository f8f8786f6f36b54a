//! `report.md`, the one markdown report: what `etbench report`, `etbench bench` and `etbench run --format md` write.
//! A table per device shows only the columns that vary (variant and median always; a one-row table its key
//! columns), footnotes state the exact conditions, prompt runs show their prompt, token counts and generated text,
//! profiled runs their top operators, charts show every raw sample, and `results.csv` / `samples.csv` carry the
//! numbers for spreadsheets.
//!
//! Runs of the same [`super::metric::RunIdentity`] (repeats, or the same setting in several documents) are pooled into one
//! row; profiled and paired runs have their own method label, so they never pool with plain ones.

use std::collections::BTreeSet;
use std::fmt::Write;

use serde::Serialize;

use super::charts::Unit;
use super::charts::{Bar, BoxRow, Chart, Spec};
use super::metric::{groups, short_sha, threads_label, threads_phrase, Group, Metric};
use crate::export::store::OutputDir;
use crate::export::{self, DECODE_NOTE};
use crate::results::{Document, Fit, RunResult, SystemInfo};
use crate::units;

/// A markdown table cell: pipes escaped, newlines folded.
pub(crate) fn escape(cell: &str) -> String {
    cell.replace('|', "\\|").replace('\n', " ")
}

/// Free text (a prompt, generated text) as a quoted markdown-safe string: newlines and quotes escaped as in Rust,
/// characters markdown or HTML would interpret escaped, cut after `max` characters with the length said.
pub fn quoted(text: &str, max: usize) -> String {
    let count = text.chars().count();
    let shown: String = text.chars().take(max).collect();
    let mut out = String::new();
    for c in format!("{shown:?}").chars() {
        match c {
            '|' | '*' | '_' | '`' | '[' | ']' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
    if count > max {
        let _ = write!(out, " … ({count} characters in all; the whole text is in results.json)");
    }
    out
}

/// The distinct values of `f` over `runs`, sorted and comma-joined (for "conditions" footnotes).
pub(crate) fn distinct<'a>(runs: &[&'a RunResult], f: impl Fn(&'a RunResult) -> String) -> String {
    runs.iter().map(|r| f(r)).collect::<BTreeSet<_>>().into_iter().collect::<Vec<_>>().join(", ")
}

/// "- Device: CPU (arch, cores, RAM), OS, kernel" footnote line.
pub(crate) fn device_line(info: &SystemInfo) -> String {
    format!(
        "- Device: {} ({}, {} logical cores, {} RAM), {} {}, kernel {}",
        info.cpu_brand.as_deref().unwrap_or("unknown CPU"),
        info.arch,
        info.cpu_logical_cores,
        units::gibibytes(info.memory_total_bytes),
        info.os.as_deref().unwrap_or("unknown OS"),
        info.os_version.as_deref().unwrap_or(""),
        info.kernel.as_deref().unwrap_or("?"),
    )
}

/// Everything `etbench report` writes, rendered in memory first so nothing is written when rendering fails.
pub struct Report {
    pub charts: Vec<Chart>,
    pub results_csv: Vec<u8>,
    pub samples_csv: Vec<u8>,
    merged: Document,
}

/// All runs of several documents in one document (provenance of the first); per-run exporters read this.
pub fn merge(docs: &[Document]) -> Option<Document> {
    let first = docs.first()?;
    let mut merged = Document::new(first.provenance.clone());
    merged.runs = docs.iter().flat_map(|d| d.runs.iter().cloned()).collect();
    merged.drift = docs.iter().flat_map(|d| d.drift.iter().cloned()).collect();
    Some(merged)
}

/// A column of the model-card table: its header and a cell per group.
struct Column {
    header: &'static str,
    cells: Vec<String>,
    /// Shown in every table (the variant and its median).
    always: bool,
    /// Shown in a one-row table too, where nothing varies: what was measured and how.
    key: bool,
    /// Marked with ¹ (the decode-equivalent footnote) where the column is shown.
    footnote: bool,
}

impl Column {
    fn header(&self) -> String {
        if self.footnote {
            format!("{} ¹", self.header)
        } else {
            self.header.to_owned()
        }
    }

    fn shown(&self, rows: usize) -> bool {
        self.always || if rows == 1 { self.key && self.cells[0] != "–" } else { !all_same(&self.cells) }
    }
}

fn all_same(cells: &[String]) -> bool {
    cells.windows(2).all(|w| w[0] == w[1])
}

fn est(metric: Metric, g: &Group) -> Option<super::metric::Estimate> {
    metric.estimate(&g.runs)
}

fn columns(groups: &[&Group]) -> Vec<Column> {
    #[derive(Clone, Copy)]
    enum Kind {
        Always,
        Key,
        Other,
    }
    let col = |header, kind: Kind, f: &dyn Fn(&Group) -> String| Column {
        header,
        always: matches!(kind, Kind::Always),
        key: !matches!(kind, Kind::Other),
        footnote: false,
        cells: groups.iter().map(|g| f(g)).collect(),
    };
    let ms = |m: Metric| move |g: &Group| est(m, g).map(|e| units::ms(e.value)).unwrap_or_else(|| "–".into());
    let rate = |m: Metric| move |g: &Group| est(m, g).map(|e| units::rate(e.value)).unwrap_or_else(|| "–".into());
    vec![
        col("variant", Kind::Always, &|g| g.key.model_name.clone()),
        col("size on disk", Kind::Key, &|g| units::size(g.runs[0].model.size_bytes)),
        col("method", Kind::Key, &|g| g.key.method.clone()),
        col("input", Kind::Other, &|g| match g.runs.iter().find_map(|r| r.prompt.as_ref()) {
            // The prompt's text is in the prompt table below; here what tells the rows apart.
            Some(p) => format!(
                "prompt: {} real of {} ids, {}",
                p.real_tokens,
                p.window,
                g.key.input.rsplit(", ").next().unwrap_or_default()
            ),
            None => g.key.input.clone(),
        }),
        col("threads", Kind::Key, &|g| threads_label(g.key.threads)),
        col("CPUs", Kind::Key, &|g| g.key.cpu_affinity.clone().unwrap_or_else(|| "–".into())),
        col("memory limit", Kind::Key, &|g| {
            g.key.memory_limit_bytes.map(crate::units::flag_bytes).unwrap_or_else(|| "–".into())
        }),
        col("load mode", Kind::Key, &|g| g.key.load_mode.clone()),
        col("runs", Kind::Other, &|g| g.runs.len().to_string()),
        col("load ms", Kind::Other, &ms(Metric::Load)),
        col("first fwd ms", Kind::Other, &ms(Metric::FirstForward)),
        col("median ms (p10–p90)", Kind::Always, &|g| {
            est(Metric::Latency, g)
                .map(|e| format!("{} ({}–{})", units::ms(e.value), units::ms(e.lower), units::ms(e.upper)))
                .unwrap_or_else(|| "–".into())
        }),
        col("prefill tok/s", Kind::Key, &rate(Metric::PrefillTokensPerS)),
        Column { footnote: true, ..col("decode-eq tok/s", Kind::Key, &rate(Metric::DecodeEquivalentTokensPerS)) },
        col("peak RSS", Kind::Key, &|g| units::mib(est(Metric::PeakRss, g).map(|e| e.value as u64))),
        col("power ²", Kind::Key, &|g| {
            est(Metric::Power, g).map(|e| units::watts(e.value)).unwrap_or_else(|| "–".into())
        }),
        col("energy/forward ²", Kind::Key, &|g| {
            est(Metric::EnergyPerForward, g).map(|e| units::joules(e.value)).unwrap_or_else(|| "–".into())
        }),
        col("output check", Kind::Other, &|g| output_check(&g.runs)),
    ]
}

fn output_check(runs: &[&RunResult]) -> String {
    let labels: BTreeSet<String> = runs.iter().map(|r| r.output_verdict.label()).collect();
    labels.into_iter().collect::<Vec<_>>().join(" / ")
}

fn device_table(out: &mut String, groups: &[&Group]) {
    let cols = columns(groups);
    let (shown, rest): (Vec<&Column>, Vec<&Column>) = cols.iter().partition(|c| c.shown(groups.len()));
    let _ = writeln!(out, "| {} |", shown.iter().map(|c| c.header()).collect::<Vec<_>>().join(" | "));
    let _ = writeln!(
        out,
        "|{}",
        shown.iter().map(|c| if c.header == "variant" { "---|" } else { "--:|" }).collect::<String>()
    );
    for i in 0..groups.len() {
        let _ = writeln!(out, "| {} |", shown.iter().map(|c| escape(&c.cells[i])).collect::<Vec<_>>().join(" | "));
    }
    out.push('\n');
    // A column that is "–" in every row says nothing: neither listed nor footnoted.
    let rest: Vec<&Column> = rest.into_iter().filter(|c| c.cells[0] != "–").collect();
    // The mark ¹ is on the header only where the column is shown; listed below the table, it needs no mark.
    if shown.iter().any(|c| c.footnote) {
        let _ = writeln!(out, "¹ {DECODE_NOTE}\n");
    }
    if !rest.is_empty() {
        let items: Vec<String> = rest.iter().map(|c| format!("{} {}", c.header, escape(&c.cells[0]))).collect();
        let lead = if groups.len() == 1 { "Also" } else { "Same for every row" };
        let _ = writeln!(out, "- {lead}: {}", items.join(" · "));
        if rest.iter().any(|c| c.footnote) {
            let _ = writeln!(out, "- {}", DECODE_NOTE[..1].to_uppercase() + &DECODE_NOTE[1..]);
        }
    }
}

/// How many runner processes each model had: `--repeat`, or, in paired-processes sessions, one per pair.
fn processes_line(runs: &[&RunResult]) -> String {
    let (paired, plain): (Vec<&RunResult>, Vec<&RunResult>) =
        runs.iter().partition(|r| r.pairing.as_ref().is_some_and(|p| p.pair.is_some()));
    let mut parts = Vec::new();
    if !plain.is_empty() {
        let n = distinct(&plain, |r| r.params.repeats.to_string());
        let noun = if n == "1" { "fresh runner process" } else { "fresh runner processes" };
        parts.push(format!("{n} {noun}"));
    }
    if !paired.is_empty() {
        let mut per_model: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
        for r in &paired {
            *per_model.entry(r.model.name.as_str()).or_default() += 1;
        }
        let counts: BTreeSet<String> = per_model.values().map(|n| n.to_string()).collect();
        parts.push(format!(
            "{} processes in paired-processes sessions (A B B A …)",
            counts.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    parts.join("; ")
}

fn conditions(out: &mut String, runs: &[&RunResult], docs: &[Document]) {
    let info = &runs[0].device.info;
    let _ = writeln!(out, "{}", device_line(info));
    let generation = runs.iter().any(|r| r.params.spec.llm.is_some());
    let (unit, method) = if generation {
        ("timed generations (each: prefill + decode steps)", "the LLM program".to_owned())
    } else {
        ("timed iterations", format!("`{}`", distinct(runs, |r| r.params.spec.method.clone())))
    };
    let timed = distinct(runs, |r| {
        let done = r.llm.as_ref().and_then(|l| l.summary.as_ref()).map(|s| s.generations as u32);
        match (done, r.params.spec.until_ci_pct) {
            (Some(n), Some(pct)) if n < r.params.spec.iterations => format!("{n} (stopped at ±{pct}%)"),
            (Some(n), _) => n.to_string(),
            _ => r.params.spec.iterations.to_string(),
        }
    });
    // "1 timed iteration", "3 timed iterations", "1, 3 timed iterations".
    let unit = if timed == "1" {
        unit.replacen("generations", "generation", 1).replacen("iterations", "iteration", 1)
    } else {
        unit.to_owned()
    };
    let _ = writeln!(
        out,
        "- Per run: {} warm-up + {timed} {unit} of {method}; {} per model; threads {}; load mode {}",
        distinct(runs, |r| r.params.spec.warmup.to_string()),
        processes_line(runs),
        distinct(runs, |r| threads_label(super::metric::effective_threads(r))),
        distinct(runs, |r| r.params.spec.load_mode.to_string()),
    );
    let versions: BTreeSet<String> = docs
        .iter()
        .map(|d| {
            format!(
                "{}{}",
                d.provenance.etbench_version,
                d.provenance.git_sha.as_deref().map(|s| format!(" ({s})")).unwrap_or_default()
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "- etbench {}; ExecuTorch {}; runner {}",
        versions.into_iter().collect::<Vec<_>>().join(", "),
        distinct(runs, |r| r.runner.as_ref().map(|x| x.executorch_version.clone()).unwrap_or_else(|| "?".into())),
        distinct(runs, |r| r.runner.as_ref().map(|x| x.target_triple.clone()).unwrap_or_else(|| "?".into())),
    );
    let _ = writeln!(
        out,
        "- Date: {}; models by sha256: {}",
        distinct(runs, |r| r.started_at.format("%Y-%m-%d").to_string()),
        distinct(runs, |r| format!("{} {}", r.model.name, short_sha(&r.model.sha256))),
    );
    let _ = writeln!(
        out,
        "- Latency is `Method::execute` alone on the device's monotonic clock, all repeats pooled; load = program + method load; first fwd = the first (cold) execute",
    );
}

/// How far each variant is from the memory limit, when the device's bandwidth was measured (`--bandwidth-probe`).
fn roofline_notes(groups: &[&Group]) -> Vec<String> {
    groups
        .iter()
        .filter_map(|g| {
            let device = g.runs.iter().find_map(|r| r.summary.as_ref()?.roofline.as_ref()?.device_bytes_per_s)?;
            let weights = g.runs[0].model.size_bytes as f64;
            let achieved = weights * 1e9 / Metric::Latency.estimate(&g.runs)?.value;
            Some(super::roofline_line(
                &g.key.model_name,
                g.runs[0].model.size_bytes,
                achieved,
                device,
                " at the median",
            ))
        })
        .collect()
}

/// Longest prompt and generated text shown in full; the rest is in results.json.
const PROMPT_CHARS: usize = 160;
const GENERATED_CHARS: usize = 240;

/// How a prompt filled the method's fixed window.
fn prompt_tokens(p: &crate::results::PromptRecord) -> String {
    match p.fit {
        Fit::Exact => format!("{} (exactly the window)", p.real_tokens),
        Fit::Padded => {
            format!("{} real + {} padding = window {}", p.real_tokens, p.window.saturating_sub(p.real_tokens), p.window)
        }
        Fit::Truncated => format!("last {} of {} (TRUNCATED to the window)", p.real_tokens, p.token_ids.len()),
    }
}

/// Prompt runs: the prompt, how many of the window's tokens were real, and what greedy generation produced.
fn prompt_table(out: &mut String, groups: &[&Group], hashes: &str) {
    let rows: Vec<(&Group, &crate::results::PromptRecord)> =
        groups.iter().filter_map(|g| Some((*g, g.runs.iter().find_map(|r| r.prompt.as_ref())?))).collect();
    if rows.is_empty() {
        return;
    }
    let texts: BTreeSet<&str> = rows.iter().map(|(_, p)| p.text.as_str()).collect();
    let shared = texts.len() == 1;
    let generated = rows.iter().any(|(g, _)| g.runs.iter().any(|r| r.generation.is_some()));
    let _ = writeln!(out, "{hashes} Prompt and generated text\n");
    let tokenizer = |p: &crate::results::PromptRecord| {
        std::path::Path::new(&p.tokenizer)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| p.tokenizer.clone())
    };
    if shared {
        let p = rows[0].1;
        let _ = writeln!(
            out,
            "Prompt ({} tokens with `{}`): {}\n",
            p.token_ids.len(),
            tokenizer(p),
            quoted(&p.text, PROMPT_CHARS)
        );
    }
    let mut header = vec!["variant"];
    if !shared {
        header.push("prompt");
    }
    header.push("prompt tokens");
    if generated {
        header.extend(["generated text", "generated tokens", "first token ms", "generate tok/s"]);
    }
    let _ = writeln!(out, "| {} |\n|{}", header.join(" | "), header.iter().map(|_| "---|").collect::<String>());
    for (g, p) in &rows {
        let mut cells = vec![escape(&g.key.model_name)];
        if !shared {
            cells.push(quoted(&p.text, PROMPT_CHARS));
        }
        cells.push(prompt_tokens(p));
        if generated {
            cells.extend(generation_cells(g.runs.iter().find_map(|r| r.generation.as_ref())));
        }
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push('\n');
    let padded: BTreeSet<(usize, usize)> =
        rows.iter().filter(|(_, p)| p.fit == Fit::Padded).map(|(_, p)| (p.window - p.real_tokens, p.window)).collect();
    let counts = match (padded.len(), padded.first()) {
        (1, Some((pad, window))) => format!(": {pad} of the {window} tokens of each forward were padding"),
        _ => " (padding per row above)".into(),
    };
    if !padded.is_empty() {
        let _ = writeln!(
            out,
            "- Prefill tok/s counts only the prompt's real tokens{counts}; the padding is computed but not counted."
        );
    }
    if generated {
        let _ = writeln!(
            out,
            "- Generated greedily after the timed loop, one full forward over the window per token (no KV cache); first token ms = the first of those forwards, generate tok/s = 1 / median step latency."
        );
    }
    out.push('\n');
}

fn generation_cells(g: Option<&crate::results::GenerationRecord>) -> [String; 4] {
    let Some(g) = g else { return ["–".into(), "–".into(), "–".into(), "–".into()] };
    let text = match &g.text {
        Some(t) => quoted(t, GENERATED_CHARS),
        None => format!("ids {:?}", g.token_ids),
    };
    let rate = crate::stats::Sample::from_ns(&g.step_latency_ns)
        .map(|s| units::rate(1e9 / s.quantile(0.5)))
        .unwrap_or_else(|_| "–".into());
    [text, format!("{} of {}", g.token_ids.len(), g.requested), units::ms_u(g.step_latency_ns.first().copied()), rate]
}

/// Per profiled run, its most expensive operators (ETDump).
fn top_operators(out: &mut String, runs: &[&RunResult], hashes: &str) {
    for run in runs {
        let Some(profile) = &run.profile else { continue };
        let _ = writeln!(out, "{hashes} Top operators: {} ({})\n", escape(&run.model.name), escape(&run.id));
        out.push_str(&crate::inspect::etdump::markdown(profile, 10));
        out.push('\n');
    }
}

/// Row labels for charts: the variant, its device when rows come from several, and whatever else tells apart rows of
/// one variant (method, threads, load mode, input); a label still shared by two rows (same name, different files)
/// gets the model's sha256 prefix.
fn chart_labels(groups: &[Group]) -> Vec<String> {
    type Part = fn(&Group) -> String;
    let parts: [Part; 6] = [
        |g| format!("`{}`", g.key.method),
        |g| threads_phrase(g.key.threads),
        |g| g.key.cpu_affinity.as_ref().map(|m| format!("CPUs {m}")).unwrap_or_else(|| "any CPU".into()),
        |g| {
            g.key
                .memory_limit_bytes
                .map(|b| format!("limit {}", crate::units::flag_bytes(b)))
                .unwrap_or_else(|| "no limit".into())
        },
        |g| g.key.load_mode.clone(),
        |g| format!("input {}", g.key.input.replace("fnv1a:", "")),
    ];
    let within_a_variant =
        |f: &Part| groups.iter().any(|a| groups.iter().any(|b| a.key.model_name == b.key.model_name && f(a) != f(b)));
    let varying: Vec<Part> = parts.into_iter().filter(within_a_variant).collect();
    let devices = groups.iter().map(|g| &g.key.device).collect::<BTreeSet<_>>().len() > 1;
    let mut labels: Vec<String> = groups
        .iter()
        .map(|g| {
            let device = devices.then(|| g.key.device.clone());
            std::iter::once(g.key.model_name.clone())
                .chain(device)
                .chain(varying.iter().map(|f| f(g)))
                .collect::<Vec<_>>()
                .join(" · ")
        })
        .collect();
    let shared: BTreeSet<String> =
        labels.iter().filter(|l| labels.iter().filter(|m| m == l).count() > 1).cloned().collect();
    for (label, g) in labels.iter_mut().zip(groups) {
        if shared.contains(label) {
            *label += &format!(" · {}", &g.key.model_sha256[..g.key.model_sha256.len().min(8)]);
        }
    }
    labels
}

/// The line under every chart title: where, when and with what it was measured.
fn caption(docs: &[Document], runs: &[&RunResult]) -> String {
    let devices = distinct(runs, |r| {
        let info = &r.device.info;
        format!(
            "{} ({}, {}, {} cores)",
            r.device.name,
            info.cpu_brand.as_deref().unwrap_or("unknown CPU").trim(),
            info.arch,
            info.cpu_logical_cores
        )
    });
    let dates: BTreeSet<String> = runs.iter().map(|r| r.started_at.format("%Y-%m-%d").to_string()).collect();
    let dates = match (dates.first(), dates.last()) {
        (Some(a), Some(b)) if a != b => format!("{a} – {b}"),
        (Some(a), _) => a.clone(),
        _ => "no date".into(),
    };
    let etbench: BTreeSet<String> = docs
        .iter()
        .map(|d| {
            format!(
                "{}{}",
                d.provenance.etbench_version,
                d.provenance.git_sha.as_deref().map(|s| format!(" ({s})")).unwrap_or_default()
            )
        })
        .collect();
    let executorch =
        distinct(runs, |r| r.runner.as_ref().map(|x| x.executorch_version.clone()).unwrap_or_else(|| "?".into()));
    format!(
        "{devices} · {dates} · etbench {} · ExecuTorch {executorch}",
        etbench.into_iter().collect::<Vec<_>>().join(", ")
    )
}

fn device_index(groups: &[Group]) -> Vec<usize> {
    let devices: Vec<&str> =
        groups.iter().map(|g| g.key.device.as_str()).collect::<BTreeSet<_>>().into_iter().collect();
    groups.iter().map(|g| devices.iter().position(|d| *d == g.key.device).unwrap_or(0)).collect()
}

fn shown_note(total: usize) -> String {
    if total > super::charts::MAX_ROWS {
        format!(" (first {} of {total})", super::charts::MAX_ROWS)
    } else {
        String::new()
    }
}

fn bars(groups: &[Group], labels: &[String], colors: &[usize], metric: Metric) -> Vec<Bar> {
    let (_, f) = metric.display_unit();
    groups
        .iter()
        .zip(labels)
        .zip(colors)
        .take(super::charts::MAX_ROWS)
        .filter_map(|((g, label), &color)| {
            let e = metric.estimate(&g.runs)?;
            Some(Bar { label: label.clone(), value: e.value * f, lower: e.lower * f, upper: e.upper * f, color })
        })
        .collect()
}

fn render_charts(all: &[Group], caption: &str) -> anyhow::Result<Vec<Chart>> {
    let (llm, forward): (Vec<&Group>, Vec<&Group>) = all.iter().partition(|g| export::llm::is_llm(g.runs[0]));
    let mut out = Vec::new();
    if !llm.is_empty() {
        let owned: Vec<Group> = llm.iter().map(|g| (*g).clone()).collect();
        let labels = chart_labels(&owned);
        let colors = device_index(&owned);
        let decode = bars(&owned, &labels, &colors, Metric::DecodeTokensPerS);
        if !decode.is_empty() {
            out.push(
                Spec::Bars {
                    bars: decode,
                    x_label: "decode tokens/s (whiskers: 95% interval of the median; min–max below 6 generations)"
                        .into(),
                    unit: Unit::TokensPerS,
                }
                .render("decode", "Decode throughput through the KV cache", caption)?,
            );
        }
        let ttft = bars(&owned, &labels, &colors, Metric::TimeToFirstToken);
        if !ttft.is_empty() {
            out.push(
                Spec::Bars {
                    bars: ttft,
                    x_label: "time to first token (whiskers: 95% interval of the median; min–max below 6 generations)"
                        .into(),
                    unit: Unit::Ms,
                }
                .render("ttft", "Time to first token", caption)?,
            );
        }
        out.extend(export::llm::depth_chart(&llm, &labels, caption)?);
        out.extend(export::llm::sustained_chart(&llm, &labels, caption)?);
    }
    let groups: Vec<Group> = forward.into_iter().cloned().collect();
    out.extend(forward_charts(&groups, caption)?);
    let labels = chart_labels(all);
    out.extend(export::energy::power_chart(&all.iter().collect::<Vec<_>>(), &labels, caption)?);
    Ok(out)
}

fn forward_charts(groups: &[Group], caption: &str) -> anyhow::Result<Vec<Chart>> {
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let labels = chart_labels(groups);
    let colors = device_index(groups);
    let note = shown_note(groups.len());
    let thinned = groups.iter().any(|g| Metric::Latency.raw_samples(&g.runs).len() > super::charts::MAX_POINTS);
    let rows: Vec<BoxRow> = groups
        .iter()
        .zip(&labels)
        .zip(&colors)
        .take(super::charts::MAX_ROWS)
        .map(|((g, label), &color)| BoxRow {
            label: label.clone(),
            values: Metric::Latency.raw_samples(&g.runs).iter().map(|v| v / 1e6).collect(),
            color,
        })
        .filter(|r| !r.values.is_empty())
        .collect();
    let points = if thinned {
        format!("≤{} points drawn per row", super::charts::MAX_POINTS)
    } else {
        "a point per timed iteration".into()
    };
    let mut out = vec![Spec::Box { rows, x_label: "latency per execute".into(), unit: Unit::Ms }.render(
        "latency",
        &format!("Latency per execute{note}: box p25–p75, line median, {points}"),
        caption,
    )?];
    let prefill = bars(groups, &labels, &colors, Metric::PrefillTokensPerS);
    let (metric, tps) = if prefill.is_empty() {
        (Metric::DecodeEquivalentTokensPerS, bars(groups, &labels, &colors, Metric::DecodeEquivalentTokensPerS))
    } else {
        (Metric::PrefillTokensPerS, prefill)
    };
    if !tps.is_empty() {
        out.push(
            Spec::Bars {
                bars: tps,
                x_label: format!("{} (whiskers from latency p90–p10)", metric.label()),
                unit: Unit::TokensPerS,
            }
            .render("throughput", &format!("Throughput: {}{note}", metric.label()), caption)?,
        );
    }
    let rss = bars(groups, &labels, &colors, Metric::PeakRss);
    if !rss.is_empty() {
        // Whiskers only exist where a variant had several runs; one run each has no range to name.
        let whiskers = if rss.iter().any(|b| b.lower < b.upper) { " (whiskers: min–max over runs)" } else { "" };
        out.push(
            Spec::Bars { bars: rss, x_label: format!("peak RSS, largest phase peak{whiskers}"), unit: Unit::Mib }
                .render("peak_rss", &format!("Peak memory{note}"), caption)?,
        );
    }
    Ok(out)
}

#[derive(Serialize)]
struct SampleRow<'a> {
    run_id: &'a str,
    device: &'a str,
    model: &'a str,
    model_sha256: &'a str,
    method: &'a str,
    threads: Option<u32>,
    load_mode: String,
    repeat_index: u32,
    iteration: usize,
    latency_ns: u64,
}

/// `samples.csv`: one row per timed iteration of every run, in measurement order.
pub fn samples_csv(doc: &Document) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for run in &doc.runs {
        let key = super::metric::RunIdentity::of(run);
        for (iteration, &latency_ns) in run.samples.timed_ns.iter().enumerate() {
            let row = SampleRow {
                run_id: &run.id,
                device: &run.device.name,
                model: &run.model.name,
                model_sha256: &run.model.sha256,
                method: &run.params.spec.method,
                threads: key.threads,
                load_mode: key.load_mode.clone(),
                repeat_index: run.params.repeat_index,
                iteration,
                latency_ns,
            };
            w.serialize(row).expect("CSV rows of plain data always serialise to memory");
        }
    }
    w.into_inner().expect("writing to memory cannot fail")
}

impl Report {
    /// Renders tables, charts and CSVs of `docs` (at least one).
    pub fn render(docs: &[Document]) -> anyhow::Result<Self> {
        let mut report = Self::without_charts(docs)?;
        let ok: Vec<&RunResult> = report.merged.runs.iter().filter(|r| r.is_ok()).collect();
        let charts = render_charts(&groups(docs), &caption(docs, &ok))?;
        report.charts = charts;
        Ok(report)
    }

    /// The same report with no charts (nothing links to chart files that were not written).
    pub fn without_charts(docs: &[Document]) -> anyhow::Result<Self> {
        let merged = merge(docs).ok_or_else(|| anyhow::anyhow!("no result documents to report on"))?;
        Ok(Self {
            charts: Vec::new(),
            results_csv: export::csv::render(&merged),
            samples_csv: samples_csv(&merged),
            merged,
        })
    }

    /// The section: a table per device, footnotes, chart links (`link_dir` is where the charts are, relative to the
    /// markdown file), with device headings at `level`.
    pub fn section(&self, docs: &[Document], level: usize, link_dir: &str) -> String {
        let groups = groups(docs);
        let mut out = String::new();
        let devices: BTreeSet<&str> = self.merged.runs.iter().map(|r| r.device.name.as_str()).collect();
        let hashes = "#".repeat(level);
        for device in devices {
            let dev_groups: Vec<&Group> = groups.iter().filter(|g| g.key.device == device).collect();
            let runs: Vec<&RunResult> = self.merged.runs.iter().filter(|r| r.device.name == device).collect();
            let _ = writeln!(out, "{hashes} {device}\n");
            let (llm_groups, forward_groups): (Vec<&Group>, Vec<&Group>) =
                dev_groups.iter().partition(|g| export::llm::is_llm(g.runs[0]));
            if dev_groups.is_empty() {
                let _ = writeln!(out, "No successful runs.\n");
            }
            if !llm_groups.is_empty() {
                export::llm::markdown(&mut out, &llm_groups);
                let firsts: Vec<&RunResult> = llm_groups.iter().map(|g| g.runs[0]).collect();
                for note in export::llm::generation_notes(&firsts) {
                    let _ = writeln!(out, "- {}", escape(&note));
                }
                out.push('\n');
            }
            if !forward_groups.is_empty() {
                device_table(&mut out, &forward_groups);
            }
            for note in export::error_notes(&runs) {
                let _ = writeln!(out, "- Failed: {}", escape(&note));
            }
            for note in export::warning_notes(&runs) {
                let _ = writeln!(out, "- Warning: {}", escape(&note));
            }
            for note in roofline_notes(&dev_groups) {
                let _ = writeln!(out, "- {}", escape(&note));
            }
            for note in export::energy_notes(&runs) {
                let _ = writeln!(out, "- ² {}", escape(&note));
            }
            conditions(&mut out, &runs, docs);
            out.push('\n');
            prompt_table(&mut out, &dev_groups, &format!("{hashes}#"));
            top_operators(&mut out, &runs, &format!("{hashes}#"));
        }
        let paired: Vec<crate::results::PairedRatio> = docs.iter().flat_map(|d| d.paired.iter().cloned()).collect();
        if !paired.is_empty() {
            let _ = writeln!(out, "{hashes} Paired comparison\n");
            let _ = writeln!(out, "{}", export::paired::render(&paired, true));
        }
        if !self.charts.is_empty() {
            let _ = writeln!(out, "{hashes} Charts\n");
            let prefix = if link_dir == "." || link_dir.is_empty() { String::new() } else { format!("{link_dir}/") };
            for c in &self.charts {
                let _ = writeln!(out, "![{}]({prefix}{}.png)\n", c.title, c.name);
                let _ = writeln!(out, "[SVG]({prefix}{}.svg)\n", c.name);
            }
        }
        out
    }

    /// The whole `report.md`.
    pub fn markdown(&self, docs: &[Document]) -> String {
        format!("# etbench report\n\n{}", self.section(docs, 2, "."))
    }

    /// `report.md` of one document without charts: `etbench run --format md` on stdout.
    pub fn tables(doc: &Document) -> String {
        let docs = std::slice::from_ref(doc);
        Self::without_charts(docs).map(|r| r.markdown(docs)).expect("one document is never empty")
    }

    /// Writes report.md, the charts, results.csv and samples.csv.
    pub fn write(&self, out: &OutputDir, docs: &[Document]) -> anyhow::Result<()> {
        for c in &self.charts {
            out.write(&format!("{}.png", c.name), &c.png)?;
            out.write(&format!("{}.svg", c.name), c.svg.as_bytes())?;
        }
        out.write("results.csv", &self.results_csv)?;
        out.write("samples.csv", &self.samples_csv)?;
        out.write("report.md", self.markdown(docs).as_bytes())?;
        Ok(())
    }
}
