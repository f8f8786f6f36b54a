//! Per-operator profiles from ETDump files (the runner's `--etdump`), parsed with the schema shipped in the SDK.
//!
//! ExecuTorch records, per `execute`, a `Method::execute` event, an `OPERATOR_CALL` per instruction with a
//! `native_call_<op>` event inside it for kernels, `DELEGATE_CALL` for delegate calls, and the delegate's own events
//! (XNNPACK: "Fully Connected (NC, F32) GEMM #1" …). Times are the runtime's ticks (nanoseconds on the POSIX PAL).
//! Each operator's time is summed per forward, and the median over the profiled forwards is reported.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::inspect::fb::etdump as fb;
use crate::stats::Sample;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    /// A kernel of the portable/optimized/quantized libraries.
    Operator,
    /// A whole call into a delegate (its time includes the delegate's own ops).
    DelegateCall,
    /// An op inside a delegate, as the backend names it.
    DelegateOp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpStat {
    pub name: String,
    pub kind: OpKind,
    pub calls_per_forward: f64,
    pub median_ns_per_forward: f64,
    /// Median time per forward ÷ median forward time.
    pub share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpProfile {
    /// The ETDump file this was read from (host path).
    #[serde(default)]
    pub etdump: Option<String>,
    pub forwards: usize,
    pub forward_median_ns: f64,
    /// Most expensive first.
    pub ops: Vec<OpStat>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("{path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path}: no forwards left after skipping {skipped} warm-up executes; profile with more --iters")]
    Empty { path: String, skipped: usize },
}

/// Strips the per-instance suffix backends add (" #3") so instances aggregate by op kind.
fn base_name(name: &str) -> &str {
    match name.rsplit_once(" #") {
        Some((base, n)) if n.chars().all(|c| c.is_ascii_digit()) => base,
        _ => name,
    }
}

fn classify(event: &fb::ProfileEvent<'_>) -> Option<(OpKind, String)> {
    let name = event.name().unwrap_or("");
    if let Some(op) = name.strip_prefix("native_call_") {
        return Some((OpKind::Operator, op.to_owned()));
    }
    match name {
        "DELEGATE_CALL" => Some((OpKind::DelegateCall, "DELEGATE_CALL".into())),
        "OPERATOR_CALL" | "Method::execute" | "Method::init" | "Program::load_method" => None,
        _ => {
            // Anything else is a backend's own event (XNNPACK names its ops); it may carry only a debug id.
            let label = if name.is_empty() { event.delegate_debug_id_str().unwrap_or("delegate event") } else { name };
            Some((OpKind::DelegateOp, base_name(label).to_owned()))
        }
    }
}

/// Per forward: total ns per (kind, op) and call counts, plus the forward's own time.
struct Forward {
    total_ns: u64,
    ops: BTreeMap<(OpKind, String), (u64, u32)>,
}

fn forwards(dump: &fb::ETDump<'_>) -> Vec<Forward> {
    let mut out = Vec::new();
    for run in dump.run_data().iter().flatten() {
        let mut forward = Forward { total_ns: 0, ops: BTreeMap::new() };
        let mut has_execute = false;
        for event in run.events().iter().flatten() {
            let Some(p) = event.profile_event() else { continue };
            let ns = p.end_time().saturating_sub(p.start_time());
            if p.name() == Some("Method::execute") {
                forward.total_ns += ns;
                has_execute = true;
            } else if let Some(key) = classify(&p) {
                let entry = forward.ops.entry(key).or_default();
                entry.0 += ns;
                entry.1 += 1;
            }
        }
        if has_execute {
            out.push(forward);
        }
    }
    out
}

/// Parses an ETDump, skipping the first `skip` executes (first forward and warm-up).
pub fn parse(path: &Path, skip: usize) -> Result<OpProfile, ProfileError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| ProfileError::Read { path: shown.clone(), reason: e.to_string() })?;
    let opts = super::verifier_options();
    let size_prefixed = bytes.len() >= 12 && &bytes[8..12] == b"ED00";
    let dump = if size_prefixed {
        fb::size_prefixed_root_as_etdump_with_opts(&opts, &bytes)
    } else {
        fb::root_as_etdump_with_opts(&opts, &bytes)
    }
    .map_err(|e| ProfileError::Read { path: shown.clone(), reason: format!("not an ETDump ({e})") })?;
    let all = forwards(&dump);
    let kept: Vec<&Forward> = all.iter().skip(skip).collect();
    if kept.is_empty() {
        return Err(ProfileError::Empty { path: shown, skipped: skip });
    }
    Ok(OpProfile { etdump: Some(shown), ..summarise(&kept) })
}

fn summarise(kept: &[&Forward]) -> OpProfile {
    let forward_median_ns =
        Sample::from_ns(&kept.iter().map(|f| f.total_ns).collect::<Vec<_>>()).map(|s| s.quantile(0.5)).unwrap_or(0.0);
    let keys: std::collections::BTreeSet<&(OpKind, String)> = kept.iter().flat_map(|f| f.ops.keys()).collect();
    let mut ops: Vec<OpStat> = keys
        .into_iter()
        .map(|key| {
            let per: Vec<(u64, u32)> = kept.iter().map(|f| f.ops.get(key).copied().unwrap_or_default()).collect();
            let median =
                Sample::from_ns(&per.iter().map(|p| p.0).collect::<Vec<_>>()).map(|s| s.quantile(0.5)).unwrap_or(0.0);
            OpStat {
                name: key.1.clone(),
                kind: key.0,
                calls_per_forward: per.iter().map(|p| p.1 as f64).sum::<f64>() / per.len() as f64,
                median_ns_per_forward: median,
                share: if forward_median_ns > 0.0 { median / forward_median_ns } else { 0.0 },
            }
        })
        .collect();
    ops.sort_by(|a, b| b.median_ns_per_forward.total_cmp(&a.median_ns_per_forward).then(a.name.cmp(&b.name)));
    OpProfile { etdump: None, forwards: kept.len(), forward_median_ns, ops }
}

fn kind_label(kind: OpKind) -> &'static str {
    match kind {
        OpKind::Operator => "kernel",
        OpKind::DelegateCall => "delegate call",
        OpKind::DelegateOp => "in delegate",
    }
}

/// A markdown table of the `top` most expensive ops.
pub fn markdown(profile: &OpProfile, top: usize) -> String {
    let mut out =
        "| op | where | calls/forward | median ms/forward | share of forward |\n|---|---|---|---|---|\n".to_string();
    for op in profile.ops.iter().take(top) {
        out.push_str(&format!(
            "| `{}` | {} | {:.0} | {:.3} | {:.1}% |\n",
            op.name,
            kind_label(op.kind),
            op.calls_per_forward,
            op.median_ns_per_forward / 1e6,
            op.share * 100.0
        ));
    }
    out.push_str(&format!(
        "\n{} profiled forwards, median forward {:.3} ms (ETDump ticks; profiling adds overhead per op). Delegate calls include the time of the ops inside them.\n",
        profile.forwards,
        profile.forward_median_ns / 1e6
    ));
    out
}

/// Operator-by-operator comparison of two profiles (e.g. bf16 vs int8, or portable vs XNNPACK).
pub fn diff_markdown(a_label: &str, a: &OpProfile, b_label: &str, b: &OpProfile, top: usize) -> String {
    fn index(p: &OpProfile) -> BTreeMap<(OpKind, String), &OpStat> {
        p.ops.iter().map(|o| ((o.kind, o.name.clone()), o)).collect()
    }
    let (ia, ib) = (index(a), index(b));
    let mut keys: Vec<&(OpKind, String)> =
        ia.keys().chain(ib.keys()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let cost = |k: &(OpKind, String)| {
        ia.get(k).map_or(0.0, |o| o.median_ns_per_forward).max(ib.get(k).map_or(0.0, |o| o.median_ns_per_forward))
    };
    keys.sort_by(|x, y| cost(y).total_cmp(&cost(x)));
    let ms = |o: Option<&&OpStat>| o.map_or("–".to_owned(), |o| format!("{:.3}", o.median_ns_per_forward / 1e6));
    let mut out =
        format!("| op | where | {a_label} ms/forward | {b_label} ms/forward | change |\n|---|---|---|---|---|\n");
    for k in keys.into_iter().take(top) {
        let (x, y) = (ia.get(k), ib.get(k));
        let change = match (x, y) {
            (Some(x), Some(y)) if x.median_ns_per_forward > 0.0 => {
                format!("{:.2}×", y.median_ns_per_forward / x.median_ns_per_forward)
            }
            (None, Some(_)) => format!("only in {b_label}"),
            (Some(_), None) => format!("only in {a_label}"),
            _ => "–".into(),
        };
        out.push_str(&format!("| `{}` | {} | {} | {} | {change} |\n", k.1, kind_label(k.0), ms(x), ms(y)));
    }
    out.push_str(&format!(
        "\nForward median: {a_label} {:.3} ms, {b_label} {:.3} ms ({:.2}×).\n",
        a.forward_median_ns / 1e6,
        b.forward_median_ns / 1e6,
        b.forward_median_ns / a.forward_median_ns.max(1.0)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_suffixes_are_stripped() {
        assert_eq!(base_name("Fully Connected (NC, F32) GEMM #12"), "Fully Connected (NC, F32) GEMM");
        assert_eq!(base_name("Add (ND)"), "Add (ND)");
        assert_eq!(base_name("odd #name"), "odd #name");
    }

    #[test]
    fn medians_are_taken_per_forward() {
        let f = |total: u64, mm: u64| Forward {
            total_ns: total,
            ops: [((OpKind::Operator, "mm.out".to_owned()), (mm, 2))].into(),
        };
        let (a, b, c) = (f(100, 80), f(110, 90), f(1000, 85));
        let p = summarise(&[&a, &b, &c]);
        assert_eq!(p.forward_median_ns, 110.0);
        assert_eq!(p.ops[0].median_ns_per_forward, 85.0);
        assert_eq!(p.ops[0].calls_per_forward, 2.0);
    }
}
