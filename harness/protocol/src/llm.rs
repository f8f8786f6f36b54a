//! LLM programs: what their constant metadata methods say, which calling convention their methods follow, and the
//! generation settings the runner acts on. One recogniser serves both sides: the runner (from the runtime's method
//! metadata) and `etbench inspect` (from the program flatbuffer), so they can never disagree.
//!
//! The conventions (what ExecuTorch's own exporters and optimum-executorch make):
//! - **tokens + input_pos**: `forward(tokens int64[1, S], input_pos int64[1])`, KV cache in mutable buffers, logits
//!   of the last position (export_llama `-kv`, the gemma4 example, etbench's `export_gemma3n.py --kv-cache`);
//! - **input_ids + cache_position**: `forward(input_ids int64[1, S], cache_position int64[S])` (transformers'
//!   exportable modules, optimum-executorch);
//! - **prefill + decode methods**: separate `prefill` and `decode` methods, each of the first kind;
//! - **window**: one token input and no cache (a fixed window re-run for every token: the seed's Gemma 3n export).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Dtype, TensorSpec, ValueKind};

/// The value a constant metadata method (`get_max_seq_len`, `use_kv_cache`, `get_eos_ids`, …) returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MetaValue {
    Bool(bool),
    Int(i64),
    Double(f64),
    Ints(Vec<i64>),
    Text(String),
}

impl MetaValue {
    pub fn as_int(&self) -> Option<i64> {
        match self {
            MetaValue::Int(v) => Some(*v),
            MetaValue::Bool(b) => Some(*b as i64),
            MetaValue::Ints(v) if v.len() == 1 => Some(v[0]),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            MetaValue::Bool(b) => Some(*b),
            MetaValue::Int(v) => Some(*v != 0),
            _ => None,
        }
    }

    pub fn as_ints(&self) -> Vec<i64> {
        match self {
            MetaValue::Ints(v) => v.clone(),
            MetaValue::Int(v) => vec![*v],
            _ => Vec::new(),
        }
    }
}

impl std::fmt::Display for MetaValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MetaValue::Bool(b) => write!(f, "{b}"),
            MetaValue::Int(v) => write!(f, "{v}"),
            MetaValue::Double(v) => write!(f, "{v}"),
            MetaValue::Ints(v) => {
                let items: Vec<String> = v.iter().map(i64::to_string).collect();
                write!(f, "[{}]", items.join(", "))
            }
            MetaValue::Text(t) => write!(f, "{t:?}"),
        }
    }
}

/// A metadata method: no inputs and at least one output (a list such as `get_eos_ids = [2, 7]` is emitted as one
/// output per element).
pub fn is_metadata_method(inputs: &[TensorSpec], outputs: &[TensorSpec]) -> bool {
    inputs.is_empty() && !outputs.is_empty()
}

/// How a program is called to generate text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Convention {
    TokensInputPos,
    InputIdsCachePosition,
    PrefillDecodeMethods,
    /// One token input, no cache: every token re-runs the whole window (today's forward loop and `--generate`).
    Window,
}

impl Convention {
    pub fn describe(self) -> &'static str {
        match self {
            Convention::TokensInputPos => {
                "forward(tokens[1, S], input_pos[1]) with a KV cache in mutable buffers (export_llama / gemma4 style)"
            }
            Convention::InputIdsCachePosition => {
                "forward(input_ids[1, S], cache_position[S]) with a KV cache (transformers / optimum-executorch style)"
            }
            Convention::PrefillDecodeMethods => {
                "separate prefill and decode methods, each (tokens[1, S], input_pos[1])"
            }
            Convention::Window => "one token window and no KV cache: every new token re-runs the whole window",
        }
    }

    /// Whether the program keeps a cache between calls (generation is then prefill + decode steps).
    pub fn has_cache(self) -> bool {
        self != Convention::Window
    }
}

/// What the recogniser found: how to call the program and its limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmProgram {
    pub convention: Convention,
    /// The method the prompt goes through, and the one each decode step calls (the same for all but
    /// `PrefillDecodeMethods`).
    pub prefill_method: String,
    pub decode_method: String,
    /// Most tokens one call takes (the token input's last dimension, an upper bound when dynamic).
    pub max_tokens_per_call: i64,
    /// The token dimension is dynamic (any length 1..=max per call); `None`: not known.
    pub dynamic_tokens: Option<bool>,
    /// Most positions the cache holds (prompt + depth + generated), and where that number came from.
    pub max_context: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_context_source: Option<String>,
    pub vocab_size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bos_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub eos_ids: Vec<i64>,
    /// The dtype the token and position inputs take.
    pub token_dtype: Dtype,
    pub position_dtype: Option<Dtype>,
    /// Inputs after tokens and positions (Gemma 4's `inputs_embeds [1, S, hidden]`): fed as zeros in the shape each
    /// call needs (the token dimension set to the call's tokens), as ExecuTorch's own `run_gemma4.py` does for text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_inputs: Vec<TensorSpec>,
}

impl LlmProgram {
    /// How a prompt of `n` tokens is fed: one call, chunks of the static length, or one token per call.
    pub fn prefill_plan(&self, n: u32, force: PrefillMode) -> Result<(PrefillMode, Vec<u32>), String> {
        let max = self.max_tokens_per_call.max(1) as u32;
        let dynamic = self.dynamic_tokens.unwrap_or(max == 1);
        let mode = match force {
            PrefillMode::Auto if max == 1 => PrefillMode::TokenByToken,
            PrefillMode::Auto if dynamic => PrefillMode::OneCall,
            PrefillMode::Auto => PrefillMode::Chunked,
            m => m,
        };
        let chunks = match mode {
            PrefillMode::TokenByToken => vec![1; n as usize],
            PrefillMode::OneCall | PrefillMode::Auto => {
                if !dynamic && n != max {
                    return Err(format!(
                        "the token input is static [1, {max}]: a one-call prefill needs exactly {max} tokens (got {n})"
                    ));
                }
                // A dynamic dimension longer than one call's bound is fed in calls of the bound.
                let mut v = vec![max; (n / max) as usize];
                if !n.is_multiple_of(max) {
                    v.push(n % max);
                }
                v
            }
            PrefillMode::Chunked => {
                if !dynamic && !n.is_multiple_of(max) {
                    return Err(format!(
                        "the token input is static [1, {max}]: a prompt must be a multiple of {max} tokens to be fed in chunks (got {n}); use --prefill {} or {}",
                        n / max * max,
                        (n / max + 1) * max
                    ));
                }
                let mut v = vec![max; (n / max) as usize];
                if !n.is_multiple_of(max) {
                    v.push(n % max);
                }
                v
            }
        };
        if self.dynamic_tokens == Some(false) && max > 1 && mode == PrefillMode::TokenByToken {
            return Err(format!("the token input is static [1, {max}]: it cannot take one token per call"));
        }
        Ok((mode, chunks))
    }
}

/// How the prompt is fed to the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PrefillMode {
    /// One call when the token dimension is dynamic, chunks of the static length when it is not, one token per
    /// call when it is 1.
    #[default]
    Auto,
    OneCall,
    Chunked,
    TokenByToken,
}

impl PrefillMode {
    pub fn as_str(self) -> &'static str {
        match self {
            PrefillMode::Auto => "auto",
            PrefillMode::OneCall => "one call",
            PrefillMode::Chunked => "chunks",
            PrefillMode::TokenByToken => "token by token",
        }
    }
}

impl std::str::FromStr for PrefillMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "auto" => PrefillMode::Auto,
            "one-call" | "one_call" => PrefillMode::OneCall,
            "chunked" | "chunks" => PrefillMode::Chunked,
            "token" | "token-by-token" | "token_by_token" => PrefillMode::TokenByToken,
            _ => return Err(format!("unknown prefill mode `{s}`: use auto, one-call, chunked or token")),
        })
    }
}

/// One method's signature, as either side sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodSig {
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
    /// Per input, whether its last dimension is dynamic (`None`: the reader cannot tell; the runtime cannot).
    pub dynamic_last_dim: Vec<Option<bool>>,
    /// How many mutable buffers (state such as a KV cache) the method has (`None`: the reader cannot tell; the
    /// runtime cannot, the flatbuffer can). A token + position signature is a cached LLM step only with evidence
    /// of a cache: mutable buffers, or metadata saying `use_kv_cache = true`.
    pub mutable_buffers: Option<usize>,
}

fn int_tensor(spec: &TensorSpec) -> bool {
    spec.kind == ValueKind::Tensor && spec.dtype.is_some_and(Dtype::is_integer)
}

fn logits_vocab(outputs: &[TensorSpec]) -> Option<i64> {
    let first = outputs.first()?;
    first.dtype.filter(|d| d.is_float())?;
    first.sizes.last().copied().filter(|v| *v > 1)
}

/// What a method looks like as a cached LLM step: tokens `[1, S]` + a position input, then any float inputs of
/// `[1, S, …]` that a text-only caller feeds as zeros (Gemma 4's `inputs_embeds`).
fn cached_step(sig: &MethodSig) -> Option<(Convention, i64, Option<bool>)> {
    if sig.inputs.len() < 2 || !sig.inputs[..2].iter().all(int_tensor) {
        return None;
    }
    let per_token_float = |spec: &TensorSpec| {
        spec.kind == ValueKind::Tensor
            && spec.dtype.is_some_and(Dtype::is_float)
            && spec.sizes.len() >= 2
            && spec.sizes[0] == 1
            && Some(&spec.sizes[1]) == sig.inputs[0].sizes.get(1)
    };
    if !sig.inputs[2..].iter().all(per_token_float) {
        return None;
    }
    let (tokens, pos) = (&sig.inputs[0], &sig.inputs[1]);
    if tokens.sizes.len() != 2 || tokens.sizes[0] != 1 {
        return None;
    }
    let s = tokens.sizes[1];
    let convention = match pos.sizes.as_slice() {
        [1] if s == 1 || sig.dynamic_last_dim.get(1).copied().flatten() != Some(true) => Convention::TokensInputPos,
        [n] if *n == s => Convention::InputIdsCachePosition,
        _ => return None,
    };
    Some((convention, s, sig.dynamic_last_dim.first().copied().flatten()))
}

/// Recognises an LLM program from its methods and the values of its metadata methods. `Err` lists what was found,
/// for an error message that tells the user why generation cannot run.
// Over 80 lines on purpose: the calling conventions tried in order, each with the evidence it needs.
pub fn recognise(
    methods: &BTreeMap<String, MethodSig>,
    metadata: &BTreeMap<String, MetaValue>,
) -> Result<LlmProgram, String> {
    let meta_int = |k: &str| metadata.get(k).and_then(MetaValue::as_int);
    let meta_bool = |k: &str| metadata.get(k).and_then(MetaValue::as_bool);
    // The step method by name, as the exporters name it: separate prefill and decode, `forward`, or Gemma 4's
    // `text_decoder` (its program has no `forward` and no metadata methods).
    let (prefill, decode) = if methods.contains_key("prefill") && methods.contains_key("decode") {
        ("prefill", "decode")
    } else if !methods.contains_key("forward") && methods.contains_key("text_decoder") {
        ("text_decoder", "text_decoder")
    } else {
        ("forward", "forward")
    };
    let Some(sig) = methods.get(prefill) else {
        let names: Vec<&str> = methods.keys().map(String::as_str).collect();
        return Err(format!(
            "no `forward` (or `prefill` + `decode`, or `text_decoder`) method; methods: {}",
            names.join(", ")
        ));
    };
    let found = |sig: &MethodSig| {
        let ins: Vec<String> = sig.inputs.iter().map(TensorSpec::describe).collect();
        let outs: Vec<String> = sig.outputs.iter().map(TensorSpec::describe).collect();
        format!("`{prefill}` takes ({}) and returns ({})", ins.join(", "), outs.join(", "))
    };
    let vocab = meta_int("get_vocab_size").or_else(|| logits_vocab(&sig.outputs));
    let token_dtype = sig.inputs.first().and_then(|s| s.dtype).unwrap_or(Dtype::Int64);
    if let Some((mut convention, s, dynamic)) = cached_step(sig) {
        if prefill == "prefill" {
            if methods.get(decode).and_then(cached_step).is_none() {
                return Err(format!("`prefill` looks like an LLM step but `decode` does not; {}", found(sig)));
            }
            convention = Convention::PrefillDecodeMethods;
        }
        let decode_buffers = methods.get(decode).and_then(|m| m.mutable_buffers);
        if decode_buffers == Some(0) && meta_bool("use_kv_cache") != Some(true) {
            return Err(format!(
                "`{decode}` takes tokens and positions but has no KV cache: it writes no mutable buffer and no metadata says use_kv_cache = true; {}: a plain program, run as a forward loop",
                found(sig)
            ));
        }
        if meta_bool("use_kv_cache") == Some(false) {
            return Err(format!(
                "the program says use_kv_cache = false but takes a position input; {}: generation with it would re-feed the whole sequence each step, which etbench does not do",
                found(sig)
            ));
        }
        let dynamic = dynamic.or_else(|| meta_bool("enable_dynamic_shape")).or((s == 1).then_some(false));
        let (max_context, source) = match (meta_int("get_max_context_len"), meta_int("get_max_seq_len")) {
            (Some(c), _) => (Some(c), Some("get_max_context_len".to_owned())),
            (None, Some(s)) => (Some(s), Some("get_max_seq_len".to_owned())),
            // No metadata: a dynamic token dimension's bound is the most positions one call may write, and the
            // exporters bound it by the cache (Gemma 4: max_seq_len - 1). A floor, said as such.
            _ if dynamic == Some(true) && s > 1 => {
                (Some(s), Some("the token input's dynamic bound (no metadata; a floor)".to_owned()))
            }
            _ => (None, None),
        };
        return Ok(LlmProgram {
            convention,
            prefill_method: prefill.into(),
            decode_method: decode.into(),
            max_tokens_per_call: s,
            dynamic_tokens: dynamic,
            max_context,
            max_context_source: source,
            vocab_size: vocab,
            bos_id: meta_int("get_bos_id"),
            eos_ids: metadata
                .get("get_eos_ids")
                .map(MetaValue::as_ints)
                .or_else(|| meta_int("get_eos_id").map(|e| vec![e]))
                .unwrap_or_default(),
            token_dtype,
            position_dtype: sig.inputs.get(1).and_then(|s| s.dtype),
            extra_inputs: sig.inputs[2..].to_vec(),
        });
    }
    // One integer token input and logits out: the fixed-window, no-cache kind.
    if sig.inputs.len() == 1 && int_tensor(&sig.inputs[0]) && vocab.is_some() {
        let s = sig.inputs[0].sizes.last().copied().unwrap_or(1);
        return Ok(LlmProgram {
            convention: Convention::Window,
            prefill_method: prefill.into(),
            decode_method: prefill.into(),
            max_tokens_per_call: s,
            dynamic_tokens: sig.dynamic_last_dim.first().copied().flatten(),
            max_context: Some(s),
            max_context_source: Some("the token input's length (no cache)".into()),
            vocab_size: vocab,
            bos_id: meta_int("get_bos_id"),
            eos_ids: metadata.get("get_eos_ids").map(MetaValue::as_ints).unwrap_or_default(),
            token_dtype,
            position_dtype: None,
            extra_inputs: Vec::new(),
        });
    }
    Err(format!(
        "no LLM calling convention recognised: expected forward(tokens[1, S], input_pos[1]), forward(input_ids[1, S], cache_position[S]), prefill + decode methods, or one token input returning logits; {}",
        found(sig)
    ))
}

/// The generation workload of a run (`RunSpec.llm`): prompt, prefill, decode. Each timed iteration of the run is one
/// whole generation (positions restart at 0, which overwrites the cache: a fresh prompt needs no reset).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmSpec {
    /// Prompt tokens fed in the timed prefill.
    pub prefill: u32,
    /// Greedy decode steps after the prefill (the first generated token comes from the prefill itself).
    pub decode: u32,
    /// Tokens already in the cache before the timed prefill, from an untimed prefill of the same prompt sequence.
    pub depth: u32,
    /// Seed of the prompt ids: `splitmix64(seed)[i] % vocab_size` (the export manifests use the same rule).
    pub prompt_seed: u64,
    /// Explicit prompt ids (a `--prompt` through the tokenizer); replaces the seeded ids.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_ids: Option<Vec<i64>>,
    /// Stop a generation at the first EOS id (text runs); benchmark runs decode past EOS like llama-bench.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stop_at_eos: bool,
    #[serde(skip_serializing_if = "is_auto")]
    pub prefill_mode: PrefillMode,
    /// Sustained mode: keep generating (restarting at position 0 when the context is full) for this many seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sustain_s: Option<f64>,
    /// What the host read from the program's flatbuffer when the program has no `enable_dynamic_shape` metadata:
    /// whether its token dimension is dynamic (the runtime cannot tell a dynamic dimension from a static one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dynamic_tokens: Option<bool>,
}

fn is_auto(m: &PrefillMode) -> bool {
    *m == PrefillMode::Auto
}

impl Default for LlmSpec {
    fn default() -> Self {
        Self {
            prefill: 32,
            decode: 32,
            depth: 0,
            prompt_seed: 0,
            prompt_ids: None,
            stop_at_eos: false,
            prefill_mode: PrefillMode::Auto,
            sustain_s: None,
            dynamic_tokens: None,
        }
    }
}

impl LlmSpec {
    /// The whole token sequence one generation feeds before decoding: `depth` untimed tokens, then `prefill` timed.
    pub fn context_ids(&self, vocab: i64) -> Vec<i64> {
        let n = (self.depth + self.prefill) as usize;
        match &self.prompt_ids {
            Some(ids) => ids.clone(),
            None => prompt_ids(self.prompt_seed, n, vocab),
        }
    }

    /// Positions one generation fills: depth + prefill + decode (each decode step feeds one token at the next
    /// position; the token of the last step is generated, never fed).
    pub fn positions(&self) -> u64 {
        self.depth as u64 + self.prefill as u64 + self.decode as u64
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.prefill == 0 && self.prompt_ids.as_ref().is_none_or(Vec::is_empty) {
            return Err("prefill must be at least 1 token".into());
        }
        if let Some(ids) = &self.prompt_ids {
            if ids.len() != (self.depth + self.prefill) as usize {
                return Err(format!(
                    "prompt_ids has {} ids but depth + prefill is {}",
                    ids.len(),
                    self.depth + self.prefill
                ));
            }
        }
        if let Some(t) = self.sustain_s.filter(|t| !(*t > 0.0 && t.is_finite())) {
            return Err(format!("sustain_s {t} must be a number of seconds above 0"));
        }
        Ok(())
    }
}

/// Seeded prompt ids inside the vocabulary: `splitmix64(seed)[i] % vocab`.
pub fn prompt_ids(seed: u64, n: usize, vocab: i64) -> Vec<i64> {
    let vocab = vocab.max(1) as u64;
    crate::splitmix64(seed, n).map(|v| (v % vocab) as i64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(inputs: Vec<TensorSpec>, outputs: Vec<TensorSpec>) -> MethodSig {
        let n = inputs.len();
        MethodSig { inputs, outputs, dynamic_last_dim: vec![None; n], mutable_buffers: None }
    }

    fn meta(pairs: &[(&str, MetaValue)]) -> BTreeMap<String, MetaValue> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    fn llama(s: i64) -> BTreeMap<String, MethodSig> {
        let forward = sig(
            vec![TensorSpec::tensor(Dtype::Int64, vec![1, s]), TensorSpec::tensor(Dtype::Int64, vec![1])],
            vec![TensorSpec::tensor(Dtype::Float32, vec![1, 512])],
        );
        BTreeMap::from([("forward".to_string(), forward)])
    }

    #[test]
    fn executorchs_gemma4_text_decoder_is_a_cached_step_with_zero_embeddings() {
        let mut step = sig(
            vec![
                TensorSpec::tensor(Dtype::Int64, vec![1, 799]),
                TensorSpec::tensor(Dtype::Int64, vec![799]),
                TensorSpec::tensor(Dtype::Float32, vec![1, 799, 128]),
            ],
            vec![TensorSpec::tensor(Dtype::Float32, vec![1, 1, 512])],
        );
        step.dynamic_last_dim = vec![Some(true), Some(true), None];
        step.mutable_buffers = Some(4);
        let p = recognise(&BTreeMap::from([("text_decoder".to_string(), step.clone())]), &meta(&[])).unwrap();
        assert_eq!((p.prefill_method.as_str(), p.convention), ("text_decoder", Convention::InputIdsCachePosition));
        assert_eq!((p.vocab_size, p.max_context, p.extra_inputs.len()), (Some(512), Some(799), 1));
        assert!(p.max_context_source.unwrap().contains("no metadata"));
        // An extra input that is not per token is not fed by guess.
        step.inputs[2] = TensorSpec::tensor(Dtype::Float32, vec![1, 7, 128]);
        assert!(recognise(&BTreeMap::from([("text_decoder".to_string(), step)]), &meta(&[])).is_err());
    }

    #[test]
    fn a_token_and_position_signature_is_a_cached_step_only_with_evidence_of_a_cache() {
        let with_buffers = |n: Option<usize>| {
            let mut methods = llama(1);
            methods.get_mut("forward").unwrap().mutable_buffers = n;
            methods
        };
        // No mutable buffer and no metadata: a plain program, and the reason names what was missing.
        let why = recognise(&with_buffers(Some(0)), &meta(&[])).unwrap_err();
        assert!(why.contains("no KV cache") && why.contains("use_kv_cache"), "{why}");
        // Mutable buffers the step writes, or metadata saying so, are evidence.
        assert!(recognise(&with_buffers(Some(4)), &meta(&[])).is_ok());
        assert!(recognise(&with_buffers(Some(0)), &meta(&[("use_kv_cache", MetaValue::Bool(true))])).is_ok());
        // The runtime cannot see buffers: unknown is not evidence against (the host decided before the run).
        assert!(recognise(&with_buffers(None), &meta(&[])).is_ok());
    }

    #[test]
    fn export_llama_programs_are_tokens_and_input_pos() {
        let m = meta(&[
            ("get_max_context_len", MetaValue::Int(128)),
            ("enable_dynamic_shape", MetaValue::Bool(true)),
            ("get_eos_ids", MetaValue::Ints(vec![2])),
        ]);
        let p = recognise(&llama(127), &m).unwrap();
        assert_eq!(
            (p.convention, p.max_tokens_per_call, p.dynamic_tokens, p.max_context),
            (Convention::TokensInputPos, 127, Some(true), Some(128))
        );
        assert_eq!((p.vocab_size, p.eos_ids.clone()), (Some(512), vec![2]));
        assert_eq!(p.prefill_plan(40, PrefillMode::Auto).unwrap(), (PrefillMode::OneCall, vec![40]));
        assert_eq!(p.prefill_plan(3, PrefillMode::TokenByToken).unwrap(), (PrefillMode::TokenByToken, vec![1, 1, 1]));
        let stat = recognise(&llama(1), &meta(&[("enable_dynamic_shape", MetaValue::Bool(false))])).unwrap();
        assert_eq!(stat.prefill_plan(3, PrefillMode::Auto).unwrap().0, PrefillMode::TokenByToken);
    }

    #[test]
    fn static_chunks_must_divide_the_prompt() {
        let p = recognise(&llama(8), &meta(&[("enable_dynamic_shape", MetaValue::Bool(false))])).unwrap();
        assert_eq!(p.prefill_plan(16, PrefillMode::Auto).unwrap(), (PrefillMode::Chunked, vec![8, 8]));
        let err = p.prefill_plan(12, PrefillMode::Auto).unwrap_err();
        assert!(err.contains("multiple of 8") && err.contains("--prefill 8 or 16"), "{err}");
        assert!(p.prefill_plan(3, PrefillMode::TokenByToken).is_err());
    }

    #[test]
    fn cache_position_and_window_programs_are_told_apart() {
        let hf = sig(
            vec![TensorSpec::tensor(Dtype::Int64, vec![1, 64]), TensorSpec::tensor(Dtype::Int64, vec![64])],
            vec![TensorSpec::tensor(Dtype::Float32, vec![1, 64, 100])],
        );
        let p = recognise(&BTreeMap::from([("forward".to_string(), hf)]), &BTreeMap::new()).unwrap();
        assert_eq!((p.convention, p.vocab_size), (Convention::InputIdsCachePosition, Some(100)));
        let window = sig(
            vec![TensorSpec::tensor(Dtype::Int64, vec![1, 32])],
            vec![TensorSpec::tensor(Dtype::Float32, vec![1, 32, 4096])],
        );
        let p = recognise(&BTreeMap::from([("forward".to_string(), window)]), &BTreeMap::new()).unwrap();
        assert_eq!(p.convention, Convention::Window);
        assert!(!p.convention.has_cache());
    }

    #[test]
    fn a_program_of_another_kind_is_described_in_the_refusal() {
        let conv = sig(
            vec![TensorSpec::tensor(Dtype::Float32, vec![1, 3, 32, 32])],
            vec![TensorSpec::tensor(Dtype::Float32, vec![1, 10])],
        );
        let err = recognise(&BTreeMap::from([("forward".to_string(), conv)]), &BTreeMap::new()).unwrap_err();
        assert!(err.contains("float32[1, 3, 32, 32]") && err.contains("no LLM calling convention"), "{err}");
    }

    #[test]
    fn prompt_ids_stay_inside_the_vocabulary_and_follow_splitmix() {
        let ids = prompt_ids(0, 100, 64);
        assert!(ids.iter().all(|&i| (0..64).contains(&i)));
        assert_eq!(prompt_ids(0, 1, 1 << 40)[0], (0xE220A8397B1DCDAFu64 % (1 << 40)) as i64);
        let spec = LlmSpec { depth: 4, prefill: 4, ..LlmSpec::default() };
        assert_eq!(spec.context_ids(64), prompt_ids(0, 8, 64));
        assert_eq!(LlmSpec { prefill: 8, decode: 4, depth: 2, ..LlmSpec::default() }.positions(), 14);
    }
}
