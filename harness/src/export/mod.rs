//! Exporters: each turns a [`Document`] into bytes. The terminal table reads one row per run ([`Row`]); `report.md`
//! (the one markdown renderer, [`report`]) and every machine format read the same [`metric`]s, so they cannot
//! disagree.

pub mod bmf;
pub mod calibrate;
pub mod card;
pub mod charts;
pub mod compare;
pub mod csv;
pub mod drift;
pub mod energy;
pub mod format;
pub mod gab;
pub mod history;
pub mod jsonl;
pub mod llm;
/// The domain model of comparable runs lives in [`crate::results::metric`]; renderers name it from here too.
pub use crate::results::metric;
pub mod paired;
pub mod pytorch;
pub mod report;
pub mod site;
pub mod store;
pub mod table;
pub mod trend;

use crate::results::{Document, RunResult};
use crate::units;

pub fn json(doc: &Document) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(doc).expect("the result document is plain data");
    bytes.push(b'\n');
    bytes
}

/// The formatters' old path: they are [`crate::units`] (kept for callers not yet moved to it).
pub use crate::units as fmt;

/// One run rendered for people: every column a table shows.
pub struct Row {
    pub model: String,
    pub size: String,
    pub repeat: String,
    pub threads: String,
    pub load_mode: String,
    pub status: String,
    pub load_ms: String,
    pub first_forward_ms: String,
    pub median_ms: String,
    pub p10_p90_ms: String,
    pub prefill_tps: String,
    pub decode_tps: String,
    pub peak_rss: String,
    pub output: String,
}

impl Row {
    pub const HEADERS: [&'static str; 14] = [
        "model",
        "size",
        "repeat",
        "threads",
        "load mode",
        "status",
        "load ms",
        "first fwd ms",
        "median ms",
        "p10–p90 ms",
        "prefill tok/s",
        "decode-eq tok/s ¹",
        "peak RSS",
        "output",
    ];

    pub fn of(run: &RunResult) -> Self {
        let s = run.summary.as_ref();
        let load = s.and_then(|s| Some(s.program_load_ns? + s.method_load_ns?));
        // Pinned runs name their CPUs beside the threads (`1 @0x2`): runs on other cores are other settings.
        let identity = crate::results::identity::RunIdentity::of(run);
        let threads = identity.threads.map(|t| t.to_string()).unwrap_or_else(|| "–".into());
        let threads = match &identity.cpu_affinity {
            Some(mask) => format!("{threads} @{mask}"),
            None => threads,
        };
        let status = match &run.error {
            None => "ok".to_owned(),
            Some(_) if run.is_interrupted() => "interrupted".to_owned(),
            Some(e) => format!("ERROR ({})", error_kind_name(e.kind)),
        };
        let dash = || "–".to_owned();
        Row {
            model: run.model.name.clone(),
            size: if run.model.size_bytes == 0 { dash() } else { units::size(run.model.size_bytes) },
            repeat: format!("{}/{}", run.params.repeat_index + 1, run.params.repeats),
            threads,
            load_mode: run.params.spec.load_mode.to_string(),
            status,
            load_ms: units::ms_u(load),
            first_forward_ms: units::ms_u(s.and_then(|s| s.first_forward_ns)),
            median_ms: s.map(|s| units::ms(s.latency_ns.median)).unwrap_or_else(dash),
            p10_p90_ms: s
                .map(|s| format!("{}–{}", units::ms(s.latency_ns.p10), units::ms(s.latency_ns.p90)))
                .unwrap_or_else(dash),
            prefill_tps: s
                .and_then(|s| s.prefill_tokens_per_s.as_ref())
                .map(|t| units::rate(t.median))
                .unwrap_or_else(dash),
            decode_tps: s
                .and_then(|s| s.decode_equivalent_tokens_per_s.as_ref())
                .map(|t| units::rate(t.median))
                .unwrap_or_else(dash),
            peak_rss: units::mib(s.and_then(|s| s.peak_rss_bytes)),
            output: if run.is_ok() { run.output_verdict.label() } else { dash() },
        }
    }

    pub fn cells(&self) -> [&str; 14] {
        [
            &self.model,
            &self.size,
            &self.repeat,
            &self.threads,
            &self.load_mode,
            &self.status,
            &self.load_ms,
            &self.first_forward_ms,
            &self.median_ms,
            &self.p10_p90_ms,
            &self.prefill_tps,
            &self.decode_tps,
            &self.peak_rss,
            &self.output,
        ]
    }
}

pub fn error_kind_name(kind: etbench_protocol::ErrorKind) -> String {
    serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// One line per failed run, with the full message (the table only names the kind).
pub fn error_notes(runs: &[&RunResult]) -> Vec<String> {
    runs.iter()
        .filter_map(|r| {
            r.error.as_ref().map(|e| format!("{} ({}): {}", r.model.name, r.id, e.message.replace('\n', " / ")))
        })
        .collect()
}

/// One line per profiled run: its five most expensive ops.
pub fn profile_notes(runs: &[&RunResult]) -> Vec<String> {
    runs.iter()
        .filter_map(|r| {
            let p = r.profile.as_ref()?;
            let top: Vec<String> =
                p.ops.iter().take(5).map(|o| format!("{} {:.1}%", o.name, o.share * 100.0)).collect();
            Some(format!("{} top ops: {}", r.model.name, top.join(" · ")))
        })
        .collect()
}

/// One line per run with a measured device bandwidth: how far the variant is from the memory limit.
pub fn roofline_notes(runs: &[&RunResult]) -> Vec<String> {
    runs.iter()
        .filter_map(|r| {
            let roof = r.summary.as_ref()?.roofline.as_ref()?;
            let device = roof.device_bytes_per_s?;
            Some(roofline_line(&r.model.name, roof.weight_bytes, roof.achieved_bytes_per_s, device, ""))
        })
        .collect()
}

/// The roofline sentence every printer uses: weights read per forward, the rate that implies, and its share of the
/// device's measured bandwidth. `at` says which latency it came from (` at the median` for pooled runs).
pub fn roofline_line(
    name: &str,
    weight_bytes: u64,
    achieved_bytes_per_s: f64,
    device_bytes_per_s: f64,
    at: &str,
) -> String {
    format!(
        "{name}: roofline: ≤ {} of weights per forward → ≤ {:.2} GB/s achieved{at}, {:.1}% of the {:.1} GB/s the device streams (upper bound: every weight byte read once per forward)",
        units::size(weight_bytes),
        achieved_bytes_per_s / 1e9,
        achieved_bytes_per_s / device_bytes_per_s * 100.0,
        device_bytes_per_s / 1e9
    )
}

/// One line per distinct warning, for the terminal table and report.md alike. A warning whose text is the same
/// for every run it hit (a debug build, a governor) is one line naming its variants and how many runs; a kind whose
/// figures differ run to run (throttling, memory) is one line per variant, the first run's text and how many of
/// its runs had it, so the forty processes of a paired-processes session do not print forty lines; high variance
/// is one line listing each variant's worst CV.
pub fn warning_notes(runs: &[&RunResult]) -> Vec<String> {
    use crate::results::warnings::{Warning, HIGH_CV};
    // (kind, variant) → the texts of its runs, in order of first appearance.
    let mut kinds: Vec<(std::mem::Discriminant<Warning>, &str, Vec<String>)> = Vec::new();
    let mut cvs: Vec<(&str, f64)> = Vec::new();
    for run in runs {
        let name = run.model.name.as_str();
        for w in &run.warnings {
            if let Warning::HighVariance { cv } = w {
                match cvs.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, worst)) => *worst = worst.max(*cv),
                    None => cvs.push((name, *cv)),
                }
                continue;
            }
            let kind = std::mem::discriminant(w);
            match kinds.iter_mut().find(|(k, n, _)| *k == kind && *n == name) {
                Some((_, _, texts)) => texts.push(w.to_string()),
                None => kinds.push((kind, name, vec![w.to_string()])),
            }
        }
    }
    // Same text throughout: one line for every variant that had it; else one line per variant.
    let mut lines: Vec<(String, Vec<&str>, usize)> = Vec::new();
    for (_, name, texts) in &kinds {
        if texts.iter().all(|t| *t == texts[0]) {
            match lines.iter_mut().find(|(t, _, _)| *t == texts[0]) {
                Some((_, names, n)) => {
                    names.push(name);
                    *n += texts.len();
                }
                None => lines.push((texts[0].clone(), vec![name], texts.len())),
            }
        } else {
            let of = runs.iter().filter(|r| r.model.name == *name).count();
            lines.push((
                format!(
                    "{} ({name}: {} of {}, the first shown)",
                    texts[0],
                    texts.len(),
                    crate::units::plural(of, "run", "runs")
                ),
                Vec::new(),
                0,
            ));
        }
    }
    lines
        .into_iter()
        .map(|(text, names, n)| match names.as_slice() {
            [] => text,
            [_] if n == 1 => format!("{text} ({})", names[0]),
            _ => format!("{text} ({}; {n} runs)", names.join(", ")),
        })
        .chain((!cvs.is_empty()).then(|| {
            let each: Vec<String> = cvs.iter().map(|(name, cv)| format!("{name} {:.1}%", cv * 100.0)).collect();
            format!(
                "high variance (CV > {:.0}%): {}; close other apps, pin cores (--cpu-affinity), add --warmup/--iters or --repeat",
                HIGH_CV * 100.0,
                each.join(", ")
            )
        }))
        .collect()
}

/// One line per run measured with `--energy`: the figures with their source, scope, units and how they were
/// sampled, or that there is none (the reason is among the warnings).
pub fn energy_notes(runs: &[&RunResult]) -> Vec<String> {
    runs.iter()
        .filter_map(|r| {
            let e = r.energy.as_ref()?;
            let src = &e.record.source;
            let head = format!(
                "{}: energy from `{}` ({}; {}; sampled every {} ms on the device)",
                r.model.name, src.name, src.scope, src.units, e.record.interval_ms
            );
            let Some(s) = &e.summary else { return Some(format!("{head}: no figure (see the energy warning)")) };
            let mut parts = vec![match (s.idle_watts, s.net_watts) {
                (Some(idle), Some(net)) => {
                    format!(
                        "{} average (idle {}, net {})",
                        crate::units::watts(s.watts),
                        crate::units::watts(idle),
                        crate::units::watts(net)
                    )
                }
                _ => format!("{} average", crate::units::watts(s.watts)),
            }];
            if let Some(j) = s.joules_per_forward {
                parts.push(format!(
                    "{}/forward{}",
                    crate::units::joules(j),
                    s.net_joules_per_forward.map(|n| format!(" (net {})", crate::units::joules(n))).unwrap_or_default()
                ));
            }
            if let Some(j) = s.prefill_joules_per_token {
                parts.push(format!("prefill {}/token", crate::units::joules(j)));
            }
            if let Some(j) = s.decode_joules_per_token {
                parts.push(format!(
                    "decode {}/token{}",
                    crate::units::joules(j),
                    s.net_decode_joules_per_token
                        .map(|n| format!(" (net {})", crate::units::joules(n)))
                        .unwrap_or_default()
                ));
            }
            parts.push(format!("over {:.2} s measured", s.seconds));
            let notes = if e.notes.is_empty() { String::new() } else { format!("; {}", e.notes.join("; ")) };
            Some(format!("{head}: {}{notes}", parts.join(", ")))
        })
        .collect()
}

/// One line per prompt-driven run: how the prompt was fitted and, with `--generate`, what came out.
pub fn text_notes(runs: &[&RunResult]) -> Vec<String> {
    let mut notes = Vec::new();
    for run in runs {
        if let Some(p) = &run.prompt {
            let fit = match p.fit {
                crate::results::Fit::Exact => "exactly the window".to_owned(),
                crate::results::Fit::Padded => format!(
                    "right-padded to {}: {} of the {} tokens were padding, prefill tok/s counts the {} real ones",
                    p.window,
                    p.window - p.real_tokens,
                    p.window,
                    p.real_tokens
                ),
                crate::results::Fit::Truncated => format!("TRUNCATED to its last {}", p.window),
            };
            notes.push(format!("{}: prompt {:?} of {} tokens, {fit}", run.model.name, p.text, p.token_ids.len()));
        }
        if let Some(g) = &run.generation {
            let text = g.text.as_deref().map(|t| format!(" {t:?}")).unwrap_or_default();
            let ttft = g
                .step_latency_ns
                .first()
                .map(|ns| format!(", first token {} ms", units::ms(*ns as f64)))
                .unwrap_or_default();
            let rate = crate::stats::Sample::from_ns(&g.step_latency_ns)
                .map(|s| format!(", {} tok/s median (decode without KV cache)", units::rate(1e9 / s.quantile(0.5))))
                .unwrap_or_default();
            notes.push(format!(
                "{}: generated {} tokens{text}{ttft}{rate}; ids {:?}",
                run.model.name,
                g.token_ids.len(),
                g.token_ids
            ));
        }
    }
    notes
}

/// Whether any run had a token input (its rows show tokens/s, so the decode-equivalent footnote applies).
pub fn has_tokens(runs: &[&RunResult]) -> bool {
    runs.iter().any(|r| r.summary.as_ref().is_some_and(|s| s.tokens_per_forward.is_some()))
}

/// What the decode-equivalent column means (the text of its footnote ¹).
pub const DECODE_NOTE: &str =
    "decode-equivalent = 1 / forward latency. No KV cache: every new token re-runs the whole window.";
