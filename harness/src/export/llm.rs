//! The LLM table: what a model card publishes for a generation run — prefill tokens/s, decode tokens/s with its
//! interval, time to first token, load, peak RSS and the KV cache — for the terminal and for `report.md` / model
//! cards. Values come from the same [`Metric`]s every machine format reads.

use std::fmt::Write;

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};

use super::metric::{threads_label, workload_label, Group, Metric};
use crate::results::RunResult;
use crate::units;

pub const HEADERS: [&str; 12] = [
    "variant",
    "size",
    "delegate",
    "threads",
    "workload",
    "prefill tok/s",
    "decode tok/s",
    "TTFT ms",
    "load ms",
    "peak RSS",
    "KV cache",
    "output",
];

/// Whether a run is a generation run of an LLM program.
pub fn is_llm(run: &RunResult) -> bool {
    run.llm.is_some() || run.params.spec.llm.is_some()
}

fn estimate(metric: Metric, runs: &[&RunResult], scale: f64) -> String {
    match metric.estimate(runs) {
        Some(e) => format!(
            "{} ({}–{})",
            units::adaptive(e.value * scale),
            units::adaptive(e.lower * scale),
            units::adaptive(e.upper * scale)
        ),
        None => "–".into(),
    }
}

/// One row per group (repeats pooled).
pub fn row(group: &Group) -> [String; 12] {
    let runs = &group.runs;
    let first = runs[0];
    let llm = first.llm.as_ref();
    let threads = super::metric::effective_threads(first);
    let workload = first.params.spec.llm.as_ref().map(workload_label).unwrap_or_else(|| "–".into());
    let mode = llm.and_then(|l| l.summary.as_ref()).map(|s| match s.prefill_mode {
        etbench_protocol::PrefillMode::OneCall => String::new(),
        m => format!(" ({})", m.as_str()),
    });
    let load = Metric::Load.estimate(runs).map(|e| units::ms(e.value)).unwrap_or_else(|| "–".into());
    let peak = runs.iter().filter_map(|r| r.summary.as_ref()?.peak_rss_bytes).max();
    let outputs: std::collections::BTreeSet<String> = runs.iter().map(|r| r.output_verdict.label()).collect();
    [
        first.model.name.clone(),
        units::size(first.model.size_bytes),
        llm.and_then(|l| l.backend.clone()).unwrap_or_else(|| "none".into()),
        threads_label(threads),
        format!("{workload}{}", mode.unwrap_or_default()),
        estimate(Metric::PrefillTokensPerS, runs, 1.0),
        estimate(Metric::DecodeTokensPerS, runs, 1.0),
        estimate(Metric::TimeToFirstToken, runs, 1e-6),
        load,
        units::mib(peak),
        llm.and_then(|l| l.kv_cache_bytes).map(crate::units::binary).unwrap_or_else(|| "–".into()),
        outputs.into_iter().collect::<Vec<_>>().join(", "),
    ]
}

/// What the columns mean, for under the table.
pub fn notes(groups: &[&Group]) -> Vec<String> {
    let generations: usize = groups
        .iter()
        .flat_map(|g| &g.runs)
        .filter_map(|r| r.llm.as_ref()?.summary.as_ref())
        .map(|s| s.generations)
        .sum();
    let mut notes = vec![
        "ppN tgM @ dD: a prompt of N tokens, then M greedy decode steps through the KV cache, after D tokens already in the cache (an untimed prefill); decoding goes on past EOS, as llama-bench does".to_owned(),
        format!(
            "prefill tok/s = N ÷ the prefill calls' execute time; decode tok/s = M ÷ the decode steps' summed execute time; TTFT (time to first token) = prefill + the argmax of the first token. Each is the median over the timed generations ({generations} in all; every generation restarts at position 0) with its 95% interval (order statistics; below 6 generations the interval is unknown and the range min–max is shown)"
        ),
    ];
    let mut reads = Vec::new();
    for g in groups {
        let Some(l) = g.runs[0].llm.as_ref() else { continue };
        let Some(s) = l.summary.as_ref() else { continue };
        if let Some(bps) = s.decode_bytes_per_s {
            let device = g.runs.iter().find_map(|r| r.conditions.iter().find_map(|c| c.memory_bandwidth_bytes_per_s));
            let share = device
                .map(|d| format!(" = {:.0}% of the {:.1} GB/s measured", bps / d * 100.0, d / 1e9))
                .unwrap_or_default();
            reads.push(format!(
                "{} {:.2} GB/s{share} ({}/step)",
                g.key.model_name,
                bps / 1e9,
                units::size(l.decode_step_bytes.unwrap_or(0))
            ));
        }
        if s.eos_generations > 0 && !g.runs[0].params.spec.llm.as_ref().is_some_and(|w| w.stop_at_eos) {
            notes.push(format!(
                "{}: EOS came in {}; decoding went on past it (benchmark mode)",
                g.key.model_name,
                crate::units::plural(s.eos_generations, "generation", "generations")
            ));
        }
    }
    if !reads.is_empty() {
        notes.push(format!(
            "decode reads (bytes per step × decode tok/s, against this device's multi-threaded read bandwidth where measured): {}. Bytes per step = weights outside embedding tables in full + one row per embedding table + the KV cache up to the step's position (a floor for programs whose attention reads the whole cache); low-bit kernels can be compute-bound, and a CPU figure says nothing about GPU/NPU backends",
            reads.join("; ")
        ));
    }
    notes
}

/// The model-card table (markdown).
pub fn markdown(out: &mut String, groups: &[&Group]) {
    let _ = writeln!(out, "| {} |", HEADERS.join(" | "));
    let align: Vec<&str> = HEADERS
        .iter()
        .enumerate()
        .map(|(i, _)| if (1..=4).contains(&i) || i == 11 || i == 0 { "---" } else { "--:" })
        .collect();
    let _ = writeln!(out, "|{}|", align.join("|"));
    for g in groups {
        let cells = row(g);
        let _ = writeln!(out, "| {} |", cells.map(|c| c.replace('|', "\\|")).join(" | "));
    }
    out.push('\n');
    for note in notes(groups) {
        let _ = writeln!(out, "- {note}");
    }
}

/// The terminal table.
pub fn terminal(groups: &[&Group]) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Disabled);
    table.set_header(HEADERS);
    for g in groups {
        table.add_row(row(g));
    }
    let notes: String = notes(groups).iter().map(|n| format!("{n}\n")).collect();
    format!("{table}\n{notes}")
}

/// The ids of a generation run, for under the table: what came out and whether it matches the export.
pub fn generation_notes(runs: &[&RunResult]) -> Vec<String> {
    runs.iter()
        .filter_map(|r| {
            let l = r.llm.as_ref()?;
            let ids = l.generated();
            let shown: Vec<String> = ids.iter().take(16).map(i64::to_string).collect();
            let more = if ids.len() > 16 { format!(" … ({} ids)", ids.len()) } else { String::new() };
            let check = match l.check_expected() {
                Some(Ok(n)) => format!("; the first {n} match the export's greedy generation"),
                Some(Err((i, e, g))) => format!("; DIFFERS from the export at token {i}: {g}, expected {e}"),
                None => String::new(),
            };
            let text = match (&l.prompt_text, &l.generated_text) {
                (Some(p), Some(g)) => format!("; prompt {p:?} → {g:?}"),
                _ => String::new(),
            };
            Some(format!(
                "{} ({}): generated [{}{more}]{check}{text}",
                r.model.name,
                workload_label(r.params.spec.llm.as_ref()?),
                shown.join(", ")
            ))
        })
        .collect()
}

/// Median and p10/p90 of values (the project's quantiles), `None` when there are none.
fn band(values: &[f64]) -> Option<(f64, f64, f64)> {
    let s = crate::stats::Sample::new(values).ok()?;
    Some((s.quantile(0.5), s.quantile(0.1), s.quantile(0.9)))
}

/// Decode milliseconds per token against the position it was fed at, one line per variant (median over the timed
/// generations, band p10–p90): how decode slows as the context fills.
pub fn depth_chart(
    groups: &[&Group],
    labels: &[String],
    caption: &str,
) -> anyhow::Result<Option<super::charts::Chart>> {
    use super::charts::{Line, Panel, Spec, Unit};
    let mut lines = Vec::new();
    for (g, label) in groups.iter().zip(labels) {
        let gens: Vec<&etbench_protocol::GenerationRecord> =
            g.runs.iter().filter_map(|r| r.llm.as_ref()).flat_map(|l| l.timed()).collect();
        let steps = gens.iter().map(|x| x.decode_ns.len()).max().unwrap_or(0);
        // Decode step k feeds the token at position depth + prefill + k.
        let start = gens.first().map(|x| (x.depth + x.prefill_tokens) as f64).unwrap_or(0.0);
        let points: Vec<(f64, f64, f64, f64)> = (0..steps)
            .filter_map(|k| {
                let v: Vec<f64> = gens.iter().filter_map(|x| x.decode_ns.get(k).map(|&ns| ns as f64 / 1e6)).collect();
                band(&v).map(|(m, lo, hi)| (start + k as f64, m, lo, hi))
            })
            .collect();
        if points.len() >= 2 {
            lines.push(Line { label: label.clone(), points });
        }
    }
    if lines.is_empty() {
        return Ok(None);
    }
    let spec = Spec::Panels {
        panels: vec![Panel { lines, y_label: "decode time per token".into(), unit: Unit::Ms }],
        x_label: "position of the token fed (prompt + earlier decode steps in the KV cache)".into(),
        x_unit: Unit::Count,
    };
    Ok(Some(spec.render(
        "decode_by_position",
        "Decode time per token by position: median over generations, band p10–p90",
        caption,
    )?))
}

/// Sustained generation: decode tokens/s per time window next to CPU clocks and the hottest temperature, so
/// throttling shows. Only for runs made with `--sustain`.
pub fn sustained_chart(
    groups: &[&Group],
    labels: &[String],
    caption: &str,
) -> anyhow::Result<Option<super::charts::Chart>> {
    use super::charts::{Line, Panel, Spec, Unit};
    let (mut rates, mut clocks, mut temps) = (Vec::new(), Vec::new(), Vec::new());
    for (g, label) in groups.iter().zip(labels) {
        let gens: Vec<&etbench_protocol::GenerationRecord> = g
            .runs
            .iter()
            .filter(|r| r.params.spec.llm.as_ref().is_some_and(|w| w.sustain_s.is_some()))
            .filter_map(|r| r.llm.as_ref())
            .flat_map(|l| l.timed())
            .collect();
        if gens.len() < 2 {
            continue;
        }
        let end = gens.iter().map(|x| x.end_uptime_ms).max().unwrap_or(0) as f64 / 1000.0;
        let window = (end / 20.0).max(1.0);
        let mut buckets: std::collections::BTreeMap<i64, Vec<&etbench_protocol::GenerationRecord>> = Default::default();
        for x in &gens {
            buckets.entry((x.end_uptime_ms as f64 / 1000.0 / window) as i64).or_default().push(x);
        }
        let mut rate_pts = Vec::new();
        let mut clock_pts = Vec::new();
        let mut temp_pts = Vec::new();
        for (b, xs) in &buckets {
            let t = (*b as f64 + 0.5) * window;
            let r: Vec<f64> =
                xs.iter().map(|x| crate::results::llm::decode_tokens_per_s(x)).filter(|v| v.is_finite()).collect();
            if let Some((m, lo, hi)) = band(&r) {
                rate_pts.push((t, m, lo, hi));
            }
            let c: Vec<f64> = xs
                .iter()
                .filter_map(|x| {
                    let khz: Vec<u64> = x.conditions.as_ref()?.cpus.iter().filter_map(|c| c.cur_khz).collect();
                    (!khz.is_empty()).then(|| khz.iter().sum::<u64>() as f64 / khz.len() as f64 / 1000.0)
                })
                .collect();
            if let Some((m, lo, hi)) = band(&c) {
                clock_pts.push((t, m, lo, hi));
            }
            let k: Vec<f64> = xs.iter().filter_map(|x| x.conditions.as_ref()?.max_temp_c()).collect();
            if let Some((m, lo, hi)) = band(&k) {
                temp_pts.push((t, m, lo, hi));
            }
        }
        rates.push(Line { label: label.clone(), points: rate_pts });
        if !clock_pts.is_empty() {
            clocks.push(Line { label: label.clone(), points: clock_pts });
        }
        if !temp_pts.is_empty() {
            temps.push(Line { label: label.clone(), points: temp_pts });
        }
    }
    if rates.is_empty() {
        return Ok(None);
    }
    let mut panels = vec![Panel { lines: rates, y_label: "decode tok/s".into(), unit: Unit::TokensPerS }];
    let mut missing = Vec::new();
    if clocks.is_empty() {
        missing.push("no CPU clock readable")
    } else {
        panels.push(Panel { lines: clocks, y_label: "mean CPU clock".into(), unit: Unit::Mhz })
    }
    if temps.is_empty() {
        missing.push("no thermal zone readable")
    } else {
        panels.push(Panel { lines: temps, y_label: "hottest zone".into(), unit: Unit::Celsius })
    }
    let note = if missing.is_empty() { String::new() } else { format!(" ({} on this device)", missing.join(", ")) };
    let spec =
        Spec::Panels { panels, x_label: format!("time since the first timed generation{note}"), x_unit: Unit::Seconds };
    Ok(Some(spec.render("sustained", "Sustained generation: decode tok/s per time window", caption)?))
}
