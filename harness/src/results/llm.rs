//! Generation runs of LLM programs: what the runner recorded per generation (raw per-step latencies kept) and the
//! figures a model card publishes, derived from them: prefill tokens/s, decode tokens/s and time to first token,
//! each a median over the run's timed generations with a distribution-free 95 % interval.

use std::collections::BTreeMap;

use etbench_protocol::{GenerationRecord, LlmProgram, MetaValue, PrefillMode};
use serde::{Deserialize, Serialize};

/// Everything about a run's generations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmResult {
    /// The calling convention and limits the runner recognised.
    pub program: LlmProgram,
    /// Values of the program's constant metadata methods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, MetaValue>,
    /// The whole context one generation feeds: `depth` untimed ids, then the `prefill` timed ones.
    pub prompt_ids: Vec<i64>,
    /// Every generation, warm-up ones flagged, with each decode step's latency.
    pub generations: Vec<GenerationRecord>,
    /// The backends the program delegates to (`XnnpackBackend`), from its flatbuffer; `None`: no delegate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// The KV cache (mutable buffers) of the program, from its flatbuffer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_cache_bytes: Option<u64>,
    /// Bytes one decode step reads (weights outside embedding tables, one embedding row per table, the KV cache at
    /// the step's depth), from the program's flatbuffer; see `inspect::llm::decode_step_bytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_step_bytes: Option<u64>,
    /// A text run (`--prompt`): the prompt, and the generated ids decoded by its tokenizer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_text: Option<String>,
    /// What the export recorded for the same prompt, when its manifest has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<LlmSummary>,
}

/// Prefill tokens ÷ the prefill calls' execute time (NaN when nothing was timed).
pub fn prefill_tokens_per_s(g: &GenerationRecord) -> f64 {
    per_s(g.prefill_tokens as f64, g.prefill_ns)
}

/// Decode steps ÷ their summed execute time (NaN without a decode step).
pub fn decode_tokens_per_s(g: &GenerationRecord) -> f64 {
    per_s(g.decode_ns.len() as f64, g.decode_ns.iter().sum())
}

fn per_s(tokens: f64, ns: u64) -> f64 {
    if ns == 0 {
        f64::NAN
    } else {
        crate::units::per_second(tokens, ns as f64)
    }
}

/// A median with its 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub median: f64,
    pub lower: f64,
    pub upper: f64,
    /// How many values it is a median of.
    pub n: usize,
}

impl Estimate {
    /// Median and the distribution-free interval of order statistics n/2 ± 0.98·√n (exact coverage ≥ 95 % for
    /// continuous data); with fewer than 6 values the interval is the whole range.
    pub fn of(values: &[f64]) -> Option<Self> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
        let (lower, upper) = match etbench_protocol::median_interval_ranks(n) {
            Some((lo, hi)) => (v[lo], v[hi]),
            None => (v[0], v[n - 1]),
        };
        Some(Self { median, lower, upper, n })
    }

    /// Half the interval's width as a percentage of the median.
    pub fn halfwidth_pct(&self) -> f64 {
        (self.upper - self.lower) / 2.0 / self.median.abs().max(f64::MIN_POSITIVE) * 100.0
    }

    /// `38.2 (37.9–38.6)`.
    pub fn show(&self, decimals: usize) -> String {
        format!("{:.d$} ({:.d$}–{:.d$})", self.median, self.lower, self.upper, d = decimals)
    }
}

/// The figures of a generation run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmSummary {
    pub generations: usize,
    pub depth: u32,
    pub prefill_tokens: u32,
    /// Decode steps per generation (each one new token through the cache).
    pub decode_tokens: u32,
    pub prefill_mode: PrefillMode,
    pub prefill_calls: u32,
    /// prefill tokens ÷ the prefill calls' execute time, per generation.
    pub prefill_tokens_per_s: Estimate,
    /// decode steps ÷ their summed execute time, per generation.
    pub decode_tokens_per_s: Estimate,
    /// Time to first token (prefill + the first argmax), per generation, in milliseconds.
    pub ttft_ms: Estimate,
    /// Every decode step of every timed generation, in milliseconds.
    pub decode_step_ms: Estimate,
    /// Largest VmHWM after a prefill and after a decode (peaks reset at each generation's start).
    pub peak_rss_after_prefill_bytes: Option<u64>,
    pub peak_rss_after_decode_bytes: Option<u64>,
    /// Generations that met an EOS id (benchmark runs decode past it).
    pub eos_generations: usize,
    /// Steps whose logits held NaN or Inf.
    pub nonfinite_steps: u32,
    /// decode_step_bytes × decode tokens/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_bytes_per_s: Option<f64>,
}

impl LlmResult {
    /// A generation run's result before any generation came in.
    pub fn new(program: LlmProgram, metadata: BTreeMap<String, MetaValue>, prompt_ids: Vec<i64>) -> Self {
        Self {
            program,
            metadata,
            prompt_ids,
            generations: Vec::new(),
            backend: None,
            kv_cache_bytes: None,
            decode_step_bytes: None,
            prompt_text: None,
            generated_text: None,
            expected: None,
            summary: None,
        }
    }

    pub fn timed(&self) -> impl Iterator<Item = &GenerationRecord> {
        self.generations.iter().filter(|g| !g.warmup)
    }

    /// Derives the summary from the raw generations (`None` without a timed generation).
    pub fn summarise(&mut self) {
        let timed: Vec<&GenerationRecord> = self.timed().collect();
        let Some(first) = timed.first() else {
            self.summary = None;
            return;
        };
        let prefill: Vec<f64> = timed.iter().map(|g| prefill_tokens_per_s(g)).collect();
        let decode: Vec<f64> = timed.iter().map(|g| decode_tokens_per_s(g)).collect();
        let ttft: Vec<f64> = timed.iter().map(|g| g.ttft_ns as f64 / 1e6).collect();
        let steps: Vec<f64> = timed.iter().flat_map(|g| g.decode_ns.iter().map(|&ns| ns as f64 / 1e6)).collect();
        let (Some(prefill_tokens_per_s), Some(decode_tokens_per_s), Some(ttft_ms), Some(decode_step_ms)) =
            (Estimate::of(&prefill), Estimate::of(&decode), Estimate::of(&ttft), Estimate::of(&steps))
        else {
            self.summary = None;
            return;
        };
        self.summary = Some(LlmSummary {
            generations: timed.len(),
            depth: first.depth,
            prefill_tokens: first.prefill_tokens,
            decode_tokens: first.decode_ns.len() as u32,
            prefill_mode: first.prefill_mode,
            prefill_calls: first.prefill_calls,
            prefill_tokens_per_s,
            decode_tokens_per_s,
            ttft_ms,
            decode_step_ms,
            peak_rss_after_prefill_bytes: timed.iter().filter_map(|g| g.memory_after_prefill.vm_hwm_bytes).max(),
            peak_rss_after_decode_bytes: timed.iter().filter_map(|g| g.memory_after_decode.vm_hwm_bytes).max(),
            eos_generations: timed.iter().filter(|g| g.eos_at.is_some()).count(),
            nonfinite_steps: timed.iter().map(|g| g.nonfinite_steps).sum(),
            decode_bytes_per_s: self.decode_step_bytes.map(|b| b as f64 * decode_tokens_per_s.median),
        });
    }

    /// The generated ids of the first timed generation (all generations of a run feed the same prompt).
    pub fn generated(&self) -> &[i64] {
        self.timed().next().map(|g| g.generated.as_slice()).unwrap_or_default()
    }

    /// Generations whose ids differ from the first timed one (greedy decoding of one program must not vary).
    pub fn inconsistent(&self) -> usize {
        let first = self.generated();
        self.timed().filter(|g| !g.generated.starts_with(first) && !first.starts_with(&g.generated)).count()
    }

    /// Compares the generated ids with what the export recorded: `Ok(n)` = the first n agree (all there are),
    /// `Err((index, expected, got))` at the first difference.
    pub fn check_expected(&self) -> Option<Result<usize, (usize, i64, i64)>> {
        let expected = self.expected.as_ref()?;
        let got = self.generated();
        let n = got.len().min(expected.len());
        Some(match (0..n).find(|&i| got[i] != expected[i]) {
            Some(i) => Err((i, expected[i], got[i])),
            None => Ok(n),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_holds_the_median_and_narrows_with_more_values() {
        let few = Estimate::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((few.median, few.lower, few.upper), (2.0, 1.0, 3.0));
        let values: Vec<f64> = (0..100).map(|i| 100.0 + (i % 10) as f64).collect();
        let many = Estimate::of(&values).unwrap();
        assert!(many.lower <= many.median && many.median <= many.upper);
        assert!(many.upper - many.lower < 9.0, "{many:?}");
        assert_eq!(Estimate::of(&[f64::NAN]), None);
    }
}
