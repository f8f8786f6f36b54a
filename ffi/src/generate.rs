//! The generation workload of LLM programs, on the device: read the metadata methods, recognise the calling
//! convention, then time whole generations — an untimed prefill of `depth` tokens, the timed prefill, the first
//! token's argmax (time to first token), and `decode` greedy steps whose `execute` calls are timed one by one.
//!
//! Every generation starts again at position 0. The programs these conventions describe keep their KV cache in
//! mutable buffers written at the positions they are given and attend only over positions up to the current one
//! (a causal mask over the cache), so writing from position 0 again overwrites what a previous generation left:
//! stale entries past the current position are never read. No reset method is needed (or exists) between
//! generations.

use std::collections::BTreeMap;
use std::time::Instant;

use etbench_protocol::llm::{self, MethodSig};
use etbench_protocol::{Convention, Dtype, GenerationRecord, LlmProgram, LlmSpec, MetaValue, PrefillMode, TensorSpec};

use crate::{inputs, memory, output, Engine, RuntimeError};

/// Values of every metadata method (no inputs, one output) of the program. A method that fails to run is left out.
pub fn read_metadata(engine: &mut Engine, methods: &[String], skip: &str) -> BTreeMap<String, MetaValue> {
    let mut out = BTreeMap::new();
    for name in methods.iter().filter(|m| m.as_str() != skip) {
        let Ok(specs) = engine.method_specs(name) else { continue };
        if !llm::is_metadata_method(&specs.inputs, &specs.outputs) {
            continue;
        }
        if let Ok(value) = engine.constant_value(name) {
            out.insert(name.clone(), value);
        }
    }
    out
}

/// Recognises the program's convention from the runtime's method metadata (which cannot tell a dynamic dimension:
/// the `enable_dynamic_shape` metadata does).
pub fn recognise(
    engine: &mut Engine,
    methods: &[String],
    metadata: &BTreeMap<String, MetaValue>,
    dynamic_tokens: Option<bool>,
) -> Result<LlmProgram, String> {
    let mut sigs = BTreeMap::new();
    for name in ["forward", "prefill", "decode", "text_decoder"] {
        if !methods.iter().any(|m| m == name) {
            continue;
        }
        let specs = engine.method_specs(name).map_err(|e| e.to_string())?;
        let n = specs.inputs.len();
        sigs.insert(
            name.to_owned(),
            MethodSig {
                inputs: specs.inputs,
                outputs: specs.outputs,
                // The token input's, as the host read it from the flatbuffer (the runtime cannot tell).
                dynamic_last_dim: (0..n).map(|i| dynamic_tokens.filter(|_| i == 0)).collect(),
                mutable_buffers: None,
            },
        );
    }
    if sigs.is_empty() {
        return Err(format!(
            "no `forward` (or `prefill` + `decode`, or `text_decoder`) method; methods: {}",
            methods.join(", ")
        ));
    }
    llm::recognise(&sigs, metadata)
}

/// What one generation feeds: the whole context (depth then prefill ids) and how it is cut into calls.
#[derive(Debug, Clone)]
pub struct Plan {
    pub program: LlmProgram,
    pub spec: LlmSpec,
    pub context: Vec<i64>,
    pub depth_chunks: Vec<u32>,
    pub prefill_chunks: Vec<u32>,
    pub prefill_mode: PrefillMode,
    pub eos: Vec<i64>,
}

/// Checks the workload against the program before anything runs: convention, context length, vocabulary, static
/// shapes. Errors name the limit and where it came from.
pub fn plan(program: &LlmProgram, spec: &LlmSpec, path: &str) -> Result<Plan, String> {
    if !program.convention.has_cache() {
        return Err(format!(
            "{path} has no KV cache ({}); etbench times its forward loop and `--generate N` instead of prefill/decode; re-export it with a KV cache (scripts/export_gemma3n.py --kv-cache, or ExecuTorch's export_llama -kv) for prefill and decode tokens/s",
            program.convention.describe()
        ));
    }
    let Some(vocab) = program.vocab_size else {
        return Err(format!(
            "{path}: the vocabulary size is unknown (no get_vocab_size method and output 0 is not logits)"
        ));
    };
    if spec.decode == 0 {
        return Err("--decode must be at least 1 step (decode tok/s is what a generation run measures)".into());
    }
    if let Some(max) = program.max_context {
        let needed = spec.positions();
        if needed > max as u64 {
            let source = program.max_context_source.as_deref().unwrap_or("the program");
            return Err(format!(
                "depth {} + prefill {} + decode {} = {needed} positions, but {path} holds {max} (from {source}); lower --prefill, --decode or --depth",
                spec.depth, spec.prefill, spec.decode
            ));
        }
    }
    let context = spec.context_ids(vocab);
    if let Some(bad) = context.iter().find(|&&id| id < 0 || id >= vocab) {
        return Err(format!(
            "prompt token id {bad} is outside the program's vocabulary (0..{vocab}); use ids below {vocab}"
        ));
    }
    let one_step_decode = program.convention == Convention::PrefillDecodeMethods
        || program.max_tokens_per_call == 1
        || program.dynamic_tokens == Some(true);
    if !one_step_decode {
        return Err(format!(
            "{path}: the token input is static [1, {}] and there is no separate decode method, so a decode step cannot feed one token; export with a dynamic token dimension or a [1, 1] decode method",
            program.max_tokens_per_call
        ));
    }
    let depth_chunks =
        if spec.depth == 0 { Vec::new() } else { program.prefill_plan(spec.depth, spec.prefill_mode)?.1 };
    let (prefill_mode, prefill_chunks) = program.prefill_plan(spec.prefill, spec.prefill_mode)?;
    let eos = program.eos_ids.clone();
    Ok(Plan { program: program.clone(), spec: spec.clone(), context, depth_chunks, prefill_chunks, prefill_mode, eos })
}

/// A generation that failed part-way: what the runtime said, and where.
#[derive(Debug)]
pub struct StepError {
    pub error: RuntimeError,
    pub at: String,
}

fn encode(dtype: Dtype, values: &[i64]) -> Vec<u8> {
    inputs::encode_ints(dtype, values).unwrap_or_else(|_| values.iter().flat_map(|v| v.to_le_bytes()).collect())
}

/// Feeds `tokens` at `start` and executes `method` once; returns the execute time alone.
fn call(engine: &mut Engine, program: &LlmProgram, method: &str, tokens: &[i64], start: i64) -> Result<u64, StepError> {
    let at = || {
        format!("{method} at position {start} with {} token{}", tokens.len(), if tokens.len() == 1 { "" } else { "s" })
    };
    let sizes = [1, tokens.len() as i64];
    engine
        .set_input(0, program.token_dtype, &encode(program.token_dtype, tokens), &sizes)
        .map_err(|error| StepError { error, at: at() })?;
    let pos_dtype = program.position_dtype.unwrap_or(Dtype::Int64);
    let positions: Vec<i64> = match program.convention {
        Convention::InputIdsCachePosition => (start..start + tokens.len() as i64).collect(),
        _ => vec![start],
    };
    engine
        .set_input(1, pos_dtype, &encode(pos_dtype, &positions), &[positions.len() as i64])
        .map_err(|error| StepError { error, at: at() })?;
    // Extra inputs (Gemma 4's inputs_embeds [1, S, hidden]) are zeros for this call's tokens, as a text-only
    // caller feeds them.
    for (i, extra) in program.extra_inputs.iter().enumerate() {
        let mut sizes = extra.sizes.clone();
        sizes[1] = tokens.len() as i64;
        let dtype = extra.dtype.unwrap_or(Dtype::Float32);
        let bytes = vec![0u8; sizes.iter().product::<i64>().max(0) as usize * dtype.element_bytes()];
        engine.set_input(2 + i, dtype, &bytes, &sizes).map_err(|error| StepError { error, at: at() })?;
    }
    let mut latency = Vec::with_capacity(1);
    engine.execute_timed(method, 1, &mut latency).map_err(|error| StepError { error, at: at() })?;
    Ok(latency[0])
}

/// The argmax of the last logits row of output 0, and whether the row was finite.
fn next_token(engine: &Engine) -> Option<(i64, bool)> {
    let outputs = engine.outputs();
    let (spec, bytes) = outputs.first()?;
    let finite = output::check(0, spec, bytes, None).is_some_and(|c| c.nan_count == 0 && c.inf_count == 0);
    let token = output::argmax_row(spec, bytes, None)? as i64;
    Some((token, finite))
}

/// The method a program's output must come from for `next_token` (logits of the last position).
fn logits_ok(spec: &TensorSpec) -> bool {
    spec.dtype.is_some_and(Dtype::is_float) && spec.sizes.last().is_some_and(|&v| v > 1)
}

/// One whole generation from position 0. `index`/`warmup`/`round` only label the record.
pub fn generate(engine: &mut Engine, plan: &Plan, started: Instant) -> Result<GenerationRecord, StepError> {
    generate_marked(engine, plan, started, &mut Marks::default())
}

/// When a generation's timed prefill started and ended and its decode ended (the energy windows), set by
/// [`generate_marked`] outside the timed calls.
#[derive(Debug, Default, Clone, Copy)]
pub struct Marks {
    pub prefill_start: Option<Instant>,
    pub prefill_end: Option<Instant>,
    pub decode_end: Option<Instant>,
}

/// [`generate`], also recording the [`Marks`].
pub fn generate_marked(
    engine: &mut Engine,
    plan: &Plan,
    started: Instant,
    marks: &mut Marks,
) -> Result<GenerationRecord, StepError> {
    let program = &plan.program;
    let peak_reset = memory::reset_peak();
    let mut position = 0usize;
    for &n in &plan.depth_chunks {
        let chunk = &plan.context[position..position + n as usize];
        call(engine, program, &program.prefill_method, chunk, position as i64)?;
        position += n as usize;
    }
    let mut prefill_ns = 0;
    marks.prefill_start = Some(Instant::now());
    for &n in &plan.prefill_chunks {
        let chunk = &plan.context[position..position + n as usize];
        prefill_ns += call(engine, program, &program.prefill_method, chunk, position as i64)?;
        position += n as usize;
    }
    let argmax_start = Instant::now();
    marks.prefill_end = Some(argmax_start);
    let first = next_token(engine);
    let ttft_ns = prefill_ns + argmax_start.elapsed().as_nanos() as u64;
    let no_logits = |at: &str| StepError {
        error: RuntimeError {
            what: format!("output 0 of {at} is not logits (a floating tensor whose last dimension is the vocabulary)"),
            code: 0x13,
            name: "InvalidType",
        },
        at: at.to_owned(),
    };
    let Some((mut token, finite)) = first else { return Err(no_logits(&program.prefill_method)) };
    let memory_after_prefill = memory::snapshot(None, peak_reset);
    let mut nonfinite_steps = u32::from(!finite);
    let mut generated = vec![token];
    let mut eos_at = plan.eos.contains(&token).then_some(0);
    let mut decode_ns = Vec::with_capacity(plan.spec.decode as usize);
    for _ in 0..plan.spec.decode {
        if plan.spec.stop_at_eos && eos_at.is_some() {
            break;
        }
        decode_ns.push(call(engine, program, &program.decode_method, &[token], position as i64)?);
        position += 1;
        let Some((next, finite)) = next_token(engine) else { return Err(no_logits(&program.decode_method)) };
        nonfinite_steps += u32::from(!finite);
        token = next;
        if eos_at.is_none() && plan.eos.contains(&token) {
            eos_at = Some(generated.len() as u32);
        }
        generated.push(token);
    }
    marks.decode_end = Some(Instant::now());
    Ok(GenerationRecord {
        model: 0,
        index: 0,
        warmup: false,
        round: None,
        depth: plan.spec.depth,
        prefill_tokens: plan.spec.prefill,
        prefill_mode: plan.prefill_mode,
        prefill_calls: plan.prefill_chunks.len() as u32,
        prefill_ns,
        ttft_ns,
        decode_ns,
        generated,
        eos_at,
        nonfinite_steps,
        end_uptime_ms: started.elapsed().as_millis() as u64,
        memory_after_prefill,
        memory_after_decode: memory::snapshot(None, peak_reset),
        conditions: None,
    })
}

/// Checks that output 0 of the prefill method is logits before any generation runs.
pub fn check_outputs(engine: &mut Engine, program: &LlmProgram) -> Result<(), String> {
    let specs = engine.method_specs(&program.prefill_method).map_err(|e| e.to_string())?;
    match specs.outputs.first() {
        Some(s) if logits_ok(s) => Ok(()),
        other => Err(format!(
            "output 0 of `{}` is {}, not logits: generation takes the argmax of a floating output's last dimension",
            program.prefill_method,
            other.map(TensorSpec::describe).unwrap_or_else(|| "missing".into())
        )),
    }
}

/// The per-generation figure the paired and adaptive machinery works on: mean nanoseconds per decode step.
pub fn ns_per_decode_token(g: &GenerationRecord) -> u64 {
    if g.decode_ns.is_empty() {
        return 0;
    }
    g.decode_ns.iter().sum::<u64>() / g.decode_ns.len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(s: i64, dynamic: Option<bool>) -> LlmProgram {
        LlmProgram {
            convention: Convention::TokensInputPos,
            prefill_method: "forward".into(),
            decode_method: "forward".into(),
            max_tokens_per_call: s,
            dynamic_tokens: dynamic,
            max_context: Some(128),
            max_context_source: Some("get_max_context_len".into()),
            vocab_size: Some(512),
            bos_id: Some(1),
            eos_ids: vec![2],
            token_dtype: Dtype::Int64,
            position_dtype: Some(Dtype::Int64),
            extra_inputs: Vec::new(),
        }
    }

    #[test]
    fn a_workload_past_the_context_is_refused_naming_the_limit() {
        let spec = LlmSpec { prefill: 100, decode: 29, ..LlmSpec::default() };
        let err = plan(&program(127, Some(true)), &spec, "m.pte").unwrap_err();
        assert!(err.contains("129 positions") && err.contains("holds 128 (from get_max_context_len)"), "{err}");
        assert!(plan(&program(127, Some(true)), &LlmSpec { prefill: 100, decode: 28, ..LlmSpec::default() }, "m.pte")
            .is_ok());
    }

    #[test]
    fn depth_and_prefill_are_cut_into_calls() {
        let spec = LlmSpec { prefill: 8, decode: 4, depth: 16, ..LlmSpec::default() };
        let p = plan(&program(127, Some(true)), &spec, "m.pte").unwrap();
        assert_eq!((p.depth_chunks.clone(), p.prefill_chunks.clone(), p.context.len()), (vec![16], vec![8], 24));
        let p = plan(&program(1, Some(false)), &spec, "m.pte").unwrap();
        assert_eq!((p.depth_chunks.len(), p.prefill_chunks.len(), p.prefill_mode), (16, 8, PrefillMode::TokenByToken));
    }

    #[test]
    fn static_windows_and_bad_prompts_are_refused() {
        let err = plan(&program(8, Some(false)), &LlmSpec { prefill: 8, ..LlmSpec::default() }, "m.pte").unwrap_err();
        assert!(err.contains("cannot feed one token"), "{err}");
        let mut window = program(32, None);
        window.convention = Convention::Window;
        assert!(plan(&window, &LlmSpec::default(), "m.pte").unwrap_err().contains("no KV cache"));
        let spec = LlmSpec { prefill: 2, prompt_ids: Some(vec![5, 900]), ..LlmSpec::default() };
        assert!(plan(&program(127, Some(true)), &spec, "m.pte").unwrap_err().contains("900 is outside"));
        assert!(plan(&program(127, Some(true)), &LlmSpec { decode: 0, ..LlmSpec::default() }, "m.pte")
            .unwrap_err()
            .contains("--decode"));
    }
}
