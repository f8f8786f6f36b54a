//! What the flatbuffer says about an LLM program, with no runtime: the values of its constant metadata methods, which
//! input dimensions are dynamic, its mutable buffers (the KV cache), the calling convention (the recogniser shared
//! with the runner, `etbench_protocol::llm`) and the bytes one decode step reads.
//!
//! How a mutable buffer is told apart from an activation: ExecuTorch records no flag. A program exported with
//! `emit_mutable_buffer_names` names them (`extra_tensor_info.fully_qualified_name` on a tensor that is not a
//! constant); otherwise the emitter's order says it. Every placeholder of the exported graph is emitted before any
//! instruction's values, and torch.export orders placeholders parameters, buffers, constants, then user inputs; of
//! those, parameters, untouched buffers and constants become constant tensors (data in the file, no planned memory),
//! and a mutated buffer stays a non-constant tensor the memory planner places (the emitter refuses an unnamed mutable
//! buffer that is not planned). So a memory-planned tensor before the method's first user input, not an input
//! itself, is a mutable buffer; a method without user inputs has none found this way. On every bundled export these
//! are exactly the tensors the program writes back with `aten::copy_` (a test checks it).

use std::collections::{BTreeMap, BTreeSet};

use etbench_protocol::llm::{recognise as recognise_sig, MethodSig};
use etbench_protocol::{Dtype, LlmProgram, MetaValue, TensorSpec, ValueKind};
use serde::{Deserialize, Serialize};

use super::fb::program as pte;
use super::{size, Inspection, MethodSummary, NAMED_DATA};

type Values<'a> = flatbuffers::Vector<'a, flatbuffers::ForwardsUOffset<pte::EValue<'a>>>;

/// State a method writes in place and keeps between calls (a KV cache).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MutableBuffer {
    pub value_index: usize,
    /// Its fully qualified name, when the program records one (`emit_mutable_buffer_names`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub dtype: Dtype,
    pub sizes: Vec<i64>,
    pub bytes: u64,
    /// In the method's memory-planned buffers (so counted in `planned_bytes`); `false`: the runtime finds its memory
    /// elsewhere (a named buffer exported unplanned).
    pub planned: bool,
}

/// The KV cache of an LLM program: the mutable buffers of its decode method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KvCache {
    pub method: String,
    pub buffers: usize,
    pub bytes: u64,
    /// The dtype and shape of one buffer, when all are alike.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtype: Option<Dtype>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<Vec<i64>>,
    /// Every buffer is in the method's planned memory, which the will-it-fit check counts.
    pub in_planned_memory: bool,
}

/// What one decode step reads from memory, by source (bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecodeBytes {
    pub weights: u64,
    pub embedding_rows: u64,
    pub kv_cache: u64,
    pub total: u64,
}

/// The bytes one decode step (one token) reads with `depth` positions in the KV cache, for a "decode reads X GB/s"
/// figure. Assumptions:
/// - every constant outside the embedding tables is read whole once per step (linear weights, norms, rope tables,
///   masks), and so are the delegate blobs and the named data shared with delegates (XNNPACK keeps its weights
///   there; its blobs also hold the small graph description, counted as if read);
/// - an embedding table gives one row per token: one row of each table, per-layer-embedding tables included (a
///   quantized table's scales are separate constants and count whole);
/// - the KV cache is read up to `depth` positions: its bytes × depth / max context (`depth` capped at the context;
///   the whole cache without a known context). An attention that masks a full static cache instead of slicing it
///   reads the whole cache every step, so the figure is then a lower bound;
/// - activations, logits and writes are left out: small next to the weights for one token.
pub fn decode_step_bytes(ins: &Inspection, depth: u64) -> DecodeBytes {
    let constants: u64 = ins.constant_bytes_by_dtype.values().sum();
    let (tables, embedding_rows) = ins.embeddings.as_ref().map_or((0, 0), |e| (e.bytes, e.row_bytes));
    let delegated: u64 = ins.delegates.iter().map(|d| d.bytes).sum();
    let named: u64 = ins.bytes.iter().filter(|b| b.part == NAMED_DATA).map(|b| b.bytes).sum();
    let weights = constants.saturating_sub(tables) + delegated + named;
    let kv_cache =
        ins.kv_cache.as_ref().map_or(0, |kv| match ins.llm.as_ref().and_then(|l| l.max_context).filter(|c| *c > 0) {
            Some(context) => (kv.bytes as u128 * depth.min(context as u64) as u128 / context as u128) as u64,
            None => kv.bytes,
        });
    DecodeBytes { weights, embedding_rows, kv_cache, total: weights + embedding_rows + kv_cache }
}

/// A constant method: no inputs, no instructions, outputs that are values stored in the program.
fn is_constant_method(plan: &pte::ExecutionPlan<'_>) -> bool {
    let instructions: usize = plan.chains().iter().flatten().map(|c| c.instructions().map_or(0, |i| i.len())).sum();
    plan.inputs().is_none_or(|i| i.is_empty()) && plan.outputs().is_some_and(|o| !o.is_empty()) && instructions == 0
}

/// The output's pytree spec says a list or tuple (`get_eos_ids` returning `[2]` is emitted as one Int output).
fn returns_sequence(plan: &pte::ExecutionPlan<'_>) -> bool {
    let Some(spec) = plan.container_meta_type().and_then(|c| c.encoded_out_str()) else { return false };
    let parsed: serde_json::Value = serde_json::from_str(spec).unwrap_or_default();
    matches!(
        parsed.get(1).and_then(|s| s.get("type")).and_then(|t| t.as_str()),
        Some("builtins.list" | "builtins.tuple")
    )
}

/// Where the program's data segments start: the extended header ("eh00" at 8) names it; without one, 0.
fn segment_base(file: &[u8]) -> u64 {
    if file.len() >= 32 && &file[8..12] == b"eh00" {
        return u64::from_le_bytes(file[24..32].try_into().expect("8 bytes"));
    }
    0
}

/// The bytes of constant buffer `index`: in the constant segment, or inline in the flatbuffer.
fn constant_data<'a>(program: &pte::Program<'a>, file: &'a [u8], index: usize, len: usize) -> Option<&'a [u8]> {
    if let Some(c) = program.constant_segment().filter(|c| c.offsets().is_some_and(|o| o.len() > 1)) {
        let offsets = c.offsets()?;
        let segment = at(&program.segments()?, c.segment_index() as usize)?;
        let start = usize::try_from(segment_base(file) + segment.offset() + at(&offsets, index)?).ok()?;
        return file.get(start..start.checked_add(len)?);
    }
    let storage = at(&program.constant_buffer()?, index)?.storage()?;
    storage.bytes().get(..len)
}

/// The elements of a small constant tensor (at most 64), as a metadata value.
fn tensor_value(program: &pte::Program<'_>, file: &[u8], t: &pte::Tensor<'_>) -> Option<MetaValue> {
    let dtype = Dtype::from_scalar_type(t.scalar_type().0 as i32);
    let sizes: Vec<i64> = t.sizes().map(|s| s.iter().map(i64::from).collect()).unwrap_or_default();
    let numel = sizes.iter().product::<i64>();
    if t.data_buffer_idx() == 0 || !(0..=64).contains(&numel) {
        return None;
    }
    let width = dtype.element_bytes();
    let data = constant_data(program, file, t.data_buffer_idx() as usize, numel as usize * width)?;
    let ints: Option<Vec<i64>> = data
        .chunks_exact(width)
        .map(|b| match dtype {
            Dtype::Int64 => Some(i64::from_le_bytes(b.try_into().ok()?)),
            Dtype::Int32 => Some(i32::from_le_bytes(b.try_into().ok()?) as i64),
            Dtype::Int16 => Some(i16::from_le_bytes(b.try_into().ok()?) as i64),
            Dtype::Int8 => Some(b[0] as i8 as i64),
            Dtype::Uint8 | Dtype::Bool => Some(b[0] as i64),
            _ => None,
        })
        .collect();
    match (dtype, sizes.is_empty()) {
        (Dtype::Bool, true) => Some(MetaValue::Bool(data[0] != 0)),
        (Dtype::Float32, true) => Some(MetaValue::Double(f32::from_le_bytes(data.try_into().ok()?) as f64)),
        (Dtype::Float64, true) => Some(MetaValue::Double(f64::from_le_bytes(data.try_into().ok()?))),
        (_, true) => ints.map(|v| MetaValue::Int(v[0])),
        (_, false) => ints.map(MetaValue::Ints),
    }
}

/// The value stored at `index` (an IntList holds the indices of its Int values).
fn stored_value(program: &pte::Program<'_>, file: &[u8], values: &Values<'_>, index: i64) -> Option<MetaValue> {
    let value = at(values, index)?;
    if let Some(v) = value.val_as_int() {
        Some(MetaValue::Int(v.int_val()))
    } else if let Some(v) = value.val_as_bool() {
        Some(MetaValue::Bool(v.bool_val()))
    } else if let Some(v) = value.val_as_double() {
        Some(MetaValue::Double(v.double_val()))
    } else if let Some(v) = value.val_as_string() {
        Some(MetaValue::Text(v.string_val().unwrap_or_default().to_owned()))
    } else if let Some(list) = value.val_as_int_list() {
        let items = list.items().map(|i| i.iter().collect::<Vec<i64>>()).unwrap_or_default();
        let ints = items.into_iter().map(|i| at(values, i)?.val_as_int().map(|v| v.int_val()));
        ints.collect::<Option<Vec<i64>>>().map(MetaValue::Ints)
    } else {
        tensor_value(program, file, &value.val_as_tensor()?)
    }
}

/// The value a constant metadata method returns (`get_max_seq_len` → 128, `get_eos_ids` → [2]); `None` for a method
/// of another kind or a value that is not a number, flag, text or list of integers.
pub(super) fn metadata_value(
    program: &pte::Program<'_>,
    file: &[u8],
    plan: &pte::ExecutionPlan<'_>,
) -> Option<MetaValue> {
    if !is_constant_method(plan) {
        return None;
    }
    let values = plan.values()?;
    let outputs: Vec<MetaValue> =
        plan.outputs()?.iter().map(|i| stored_value(program, file, &values, i as i64)).collect::<Option<_>>()?;
    match outputs.as_slice() {
        [MetaValue::Int(v)] if returns_sequence(plan) => Some(MetaValue::Ints(vec![*v])),
        [one] => Some(one.clone()),
        // A list flattens to one output per element.
        many => many
            .iter()
            .map(|v| if let MetaValue::Int(i) = v { Some(*i) } else { None })
            .collect::<Option<Vec<i64>>>()
            .map(MetaValue::Ints),
    }
}

/// Entry `index` of a flatbuffer vector, `None` out of range (`Vector::get` panics there).
fn at<'a, T: flatbuffers::Follow<'a> + 'a>(
    v: &flatbuffers::Vector<'a, T>,
    index: impl TryInto<usize>,
) -> Option<T::Inner> {
    let i = index.try_into().ok()?;
    (i < v.len()).then(|| v.get(i))
}

fn tensor_at<'a>(values: &Values<'a>, index: i32) -> Option<pte::Tensor<'a>> {
    at(values, index)?.val_as_tensor()
}

fn sizes_of(t: &pte::Tensor<'_>) -> Vec<i64> {
    t.sizes().map(|s| s.iter().map(i64::from).collect()).unwrap_or_default()
}

/// Dimensions the graph asks the size of (`aten::sym_size.int(tensor, dim)`): the symbolic ones, by tensor.
fn symbolic_dims(plan: &pte::ExecutionPlan<'_>, ops: &[String], values: &Values<'_>) -> BTreeMap<i32, BTreeSet<usize>> {
    let mut out: BTreeMap<i32, BTreeSet<usize>> = BTreeMap::new();
    for chain in plan.chains().iter().flatten() {
        for call in chain.instructions().iter().flatten().filter_map(|i| i.instr_args_as_kernel_call()) {
            if usize::try_from(call.op_index())
                .ok()
                .and_then(|i| ops.get(i))
                .is_none_or(|op| op != "aten::sym_size.int")
            {
                continue;
            }
            let Some(args) = call.args().filter(|a| a.len() >= 2) else { continue };
            let (tensor, dim) = (args.get(0), args.get(1));
            let rank = tensor_at(values, tensor).map_or(0, |t| sizes_of(&t).len()) as i64;
            let dim = at(values, dim).and_then(|v| v.val_as_int()).map(|d| d.int_val());
            if let Some(d) = dim.map(|d| if d < 0 { d + rank } else { d }).filter(|d| (0..rank).contains(d)) {
                out.entry(tensor).or_default().insert(d as usize);
            }
        }
    }
    out
}

/// Per input and per output of a method, which dimensions vary from call to call. The program records only that a
/// tensor is dynamic (`shape_dynamism`, sizes being upper bounds), not which dimension: an input's are those the
/// graph takes the size of; an output's are those whose bound is one of them; when that finds none, every dimension
/// above 1. Non-tensor values get no dimensions.
pub(super) fn dynamic_dims(plan: &pte::ExecutionPlan<'_>, ops: &[String]) -> (Vec<Vec<bool>>, Vec<Vec<bool>>) {
    let values = plan.values().unwrap_or_default();
    let symbolic = symbolic_dims(plan, ops, &values);
    let fallback = |sizes: &[i64]| sizes.iter().map(|s| *s > 1).collect::<Vec<bool>>();
    let mut bounds = BTreeSet::new();
    let inputs: Vec<Vec<bool>> = plan
        .inputs()
        .iter()
        .flatten()
        .map(|index| {
            let Some(t) = tensor_at(&values, index) else { return Vec::new() };
            let sizes = sizes_of(&t);
            let dims = match symbolic.get(&index) {
                _ if t.shape_dynamism() == pte::TensorShapeDynamism::STATIC => vec![false; sizes.len()],
                Some(found) => (0..sizes.len()).map(|d| found.contains(&d)).collect(),
                None => fallback(&sizes),
            };
            bounds.extend(sizes.iter().zip(&dims).filter(|(_, dynamic)| **dynamic).map(|(s, _)| *s));
            dims
        })
        .collect();
    let outputs = plan
        .outputs()
        .iter()
        .flatten()
        .map(|index| {
            let Some(t) = tensor_at(&values, index) else { return Vec::new() };
            let sizes = sizes_of(&t);
            if t.shape_dynamism() == pte::TensorShapeDynamism::STATIC {
                return vec![false; sizes.len()];
            }
            let matched: Vec<bool> = sizes.iter().map(|s| *s > 1 && bounds.contains(s)).collect();
            if matched.contains(&true) {
                matched
            } else {
                fallback(&sizes)
            }
        })
        .collect();
    (inputs, outputs)
}

/// The mutable buffers of a method (see the module docs for how they are told apart from activations).
pub(super) fn mutable_buffers(plan: &pte::ExecutionPlan<'_>) -> Vec<MutableBuffer> {
    state_tensors(plan, true)
}

/// Mutable buffers by name (when `by_name`) or by their place among the placeholders.
fn state_tensors(plan: &pte::ExecutionPlan<'_>, by_name: bool) -> Vec<MutableBuffer> {
    let values = plan.values().unwrap_or_default();
    let first_input = plan.inputs().iter().flatten().filter_map(|i| usize::try_from(i).ok()).min();
    let inputs: BTreeSet<usize> = plan.inputs().iter().flatten().filter_map(|i| usize::try_from(i).ok()).collect();
    let mut out = Vec::new();
    for (value_index, value) in values.iter().enumerate() {
        let Some(t) = value.val_as_tensor() else { continue };
        let extra = t.extra_tensor_info();
        let name = extra.and_then(|x| x.fully_qualified_name()).filter(|n| !n.is_empty()).map(str::to_owned);
        let external = extra.is_some_and(|x| x.location() == pte::TensorDataLocation::EXTERNAL);
        let planned = t.allocation_info().is_some();
        // A constant has data in the file and no planned memory; a mutable buffer with an initial state has both.
        let constant = t.data_buffer_idx() != 0 && !planned;
        let named_state = by_name && name.is_some() && !external && !constant;
        let placeholder_state =
            planned && !inputs.contains(&value_index) && first_input.is_some_and(|first| value_index < first);
        if named_state || placeholder_state {
            let dtype = Dtype::from_scalar_type(t.scalar_type().0 as i32);
            let sizes = sizes_of(&t);
            let bytes = sizes.iter().product::<i64>().max(0) as u64 * dtype.element_bytes() as u64;
            out.push(MutableBuffer { value_index, name, dtype, sizes, bytes, planned });
        }
    }
    out
}

/// The calling convention of a program whose methods are `methods`, or why it is not an LLM program.
pub(super) fn recognise(
    methods: &[MethodSummary],
    metadata: &BTreeMap<String, MetaValue>,
) -> Result<LlmProgram, String> {
    let sigs: BTreeMap<String, MethodSig> = methods
        .iter()
        .map(|m| {
            let dynamic_last_dim = (0..m.inputs.len())
                .map(|i| {
                    (m.inputs[i].kind == ValueKind::Tensor).then(|| m.input_dims(i).last().copied().unwrap_or(false))
                })
                .collect();
            let mutable_buffers = Some(m.mutable_buffers.len());
            (
                m.name.clone(),
                MethodSig { inputs: m.inputs.clone(), outputs: m.outputs.clone(), dynamic_last_dim, mutable_buffers },
            )
        })
        .collect();
    recognise_sig(&sigs, metadata)
}

/// The KV cache of a program with a cache convention: the decode method's mutable buffers.
pub(super) fn kv_cache(methods: &[MethodSummary], llm: &LlmProgram) -> Option<KvCache> {
    if !llm.convention.has_cache() {
        return None;
    }
    let method = methods.iter().find(|m| m.name == llm.decode_method)?;
    let buffers = &method.mutable_buffers;
    let first = buffers.first()?;
    let alike = buffers.iter().all(|b| b.dtype == first.dtype && b.sizes == first.sizes);
    Some(KvCache {
        method: method.name.clone(),
        buffers: buffers.len(),
        bytes: buffers.iter().map(|b| b.bytes).sum(),
        dtype: alike.then_some(first.dtype),
        shape: alike.then(|| first.sizes.clone()),
        in_planned_memory: buffers.iter().all(|b| b.planned),
    })
}

/// `int64[1, 1..127]`: a dynamic dimension as the range of lengths it takes (lower bound 1: the program records none).
pub(super) fn spec_with_ranges(spec: &TensorSpec, dynamic: &[bool]) -> String {
    let Some(dtype) = spec.dtype.filter(|_| spec.kind == ValueKind::Tensor) else { return spec.describe() };
    let dims: Vec<String> = spec
        .sizes
        .iter()
        .enumerate()
        .map(
            |(d, s)| if dynamic.get(d).copied().unwrap_or(false) && *s > 1 { format!("1..{s}") } else { s.to_string() },
        )
        .collect();
    format!("{}[{}]", dtype.name(), dims.join(", "))
}

fn prefill_line(llm: &LlmProgram) -> String {
    let n = llm.max_tokens_per_call;
    let tokens = if n == 1 { "1 token".to_owned() } else { format!("{n} tokens") };
    let how = match llm.dynamic_tokens {
        Some(true) => format!("dynamic: any 1..{n} in one call"),
        Some(false) if n == 1 => "static: the prompt goes token by token".to_owned(),
        Some(false) => format!("static: the prompt goes in chunks of {n}"),
        None => "dynamic or not: unknown".to_owned(),
    };
    if llm.convention.has_cache() {
        format!("prefill up to {tokens} per call ({how})")
    } else {
        format!("window {tokens} ({})", how.split(':').next().unwrap_or_default())
    }
}

/// The LLM lines of `inspect`'s table: convention, limits, KV cache, decode step bytes (none for other programs).
pub(super) fn render(ins: &Inspection) -> Vec<String> {
    let Some(llm) = &ins.llm else {
        // Said only for programs that look like an LLM step but lack the evidence: the user asked "why not?".
        return ins.not_llm.iter().map(|why| format!("not an LLM program with a cache: {why}")).collect();
    };
    let mut facts = vec![prefill_line(llm)];
    if llm.convention.has_cache() {
        if let (Some(context), Some(source)) = (llm.max_context, &llm.max_context_source) {
            facts.push(format!("context {context} positions ({source})"));
        }
    }
    facts.extend(llm.vocab_size.map(|v| format!("vocab {v}")));
    facts.extend(llm.bos_id.map(|b| format!("bos {b}")));
    if !llm.eos_ids.is_empty() {
        facts.push(format!("eos {}", MetaValue::Ints(llm.eos_ids.clone())));
    }
    // The convention says `forward(…)`; a program whose step method has another name (Gemma 4's `text_decoder`) is
    // named as it is, with its extra inputs.
    let mut convention = llm.convention.describe().replacen("forward(", &format!("{}(", llm.prefill_method), 1);
    if !llm.extra_inputs.is_empty() {
        let extra: Vec<String> = llm.extra_inputs.iter().map(TensorSpec::describe).collect();
        convention.push_str(&format!("; then {}, fed as zeros (text only)", extra.join(", ")));
    }
    let mut lines = vec![format!("LLM program: {convention}"), format!("  {}", facts.join(", "))];
    if llm.convention.has_cache() && llm.prefill_method != llm.decode_method {
        lines.push(format!("  prefill through `{}`, decode steps through `{}`", llm.prefill_method, llm.decode_method));
    }
    match &ins.kv_cache {
        Some(kv) => lines.push(kv_line(ins, kv)),
        None if llm.convention.has_cache() => {
            lines.push("KV cache: no mutable buffers found in the decode method".into())
        }
        None => {}
    }
    if llm.convention.has_cache() {
        let full = decode_step_bytes(ins, llm.max_context.unwrap_or(0).max(0) as u64);
        let parts = [
            ("weights", full.weights, " (outside embedding tables, delegate data included)"),
            ("embedding rows", full.embedding_rows, ""),
            ("KV cache", full.kv_cache, ""),
        ];
        let shown: Vec<String> = parts
            .iter()
            .filter(|p| p.1 > 0)
            .map(|(what, bytes, note)| format!("{what} {}{note}", size(*bytes)))
            .collect();
        lines.push(format!("decode step reads ≈ {} at full context: {}", size(full.total), shown.join(", ")));
    }
    lines
}

fn kv_line(ins: &Inspection, kv: &KvCache) -> String {
    let buffers =
        if kv.buffers == 1 { "1 mutable buffer".to_owned() } else { format!("{} mutable buffers", kv.buffers) };
    let each = match (kv.dtype, &kv.shape) {
        (Some(d), Some(s)) if kv.buffers > 1 => format!(" ({} {s:?} each)", d.name()),
        (Some(d), Some(s)) => format!(" ({} {s:?})", d.name()),
        _ => String::new(),
    };
    let method = ins.methods.iter().find(|m| m.name == kv.method);
    let (planned, outside) = method.map_or((0, 0), |m| (m.planned_bytes, m.memory_bytes() - m.planned_bytes));
    let place = if kv.in_planned_memory {
        format!("inside the method's planned memory ({}) that will-it-fit counts", size(planned))
    } else {
        format!("{} of it outside the method's planned memory ({}): will-it-fit adds it", size(outside), size(planned))
    };
    format!("KV cache: {buffers}, {}{each}, {place}", size(kv.bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::{inspect, ByteShare, DelegateSummary, EmbeddingSummary};
    use etbench_protocol::Convention;
    use std::path::{Path, PathBuf};

    fn data(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/data").join(name)
    }

    fn model(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../models").join(name)
    }

    /// Calls `f` with every execution plan of the program at `path`.
    fn plans(path: &Path, mut f: impl FnMut(&pte::ExecutionPlan<'_>)) {
        let bytes = std::fs::read(path).unwrap();
        let len = super::super::program_len(&bytes);
        let opts = flatbuffers::VerifierOptions { max_tables: usize::MAX / 2, ..Default::default() };
        let program = pte::root_as_program_with_opts(&opts, &bytes[..len]).unwrap();
        program.execution_plan().iter().flatten().for_each(|plan| f(&plan));
    }

    #[test]
    fn metadata_of_every_kind_the_emitter_writes_is_read() {
        let ins = inspect(&data("llm-metadata.pte")).unwrap();
        let expected: BTreeMap<String, MetaValue> = [
            ("get_eos_ids", MetaValue::Ints(vec![2, 7])),
            ("get_layer_ids", MetaValue::Ints(vec![3, 4, 5])),
            ("get_max_context_len", MetaValue::Int(16)),
            ("get_name", MetaValue::Text("tiny".into())),
            ("get_rope_theta", MetaValue::Double(0.5)),
            ("get_stop_ids", MetaValue::Ints(vec![5])),
            ("get_vocab_size", MetaValue::Int(32)),
            ("use_kv_cache", MetaValue::Bool(true)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        assert_eq!(ins.metadata, expected);
        let llm = ins.llm.as_ref().expect("an LLM program");
        assert_eq!(
            (llm.convention, llm.max_tokens_per_call, llm.dynamic_tokens, llm.max_context),
            (Convention::TokensInputPos, 15, Some(true), Some(16))
        );
        assert_eq!(llm.eos_ids, vec![2, 7]);
    }

    #[test]
    fn a_dynamic_dimension_is_the_one_the_graph_takes_the_size_of() {
        let ins = inspect(&data("llm-metadata.pte")).unwrap();
        let forward = &ins.methods.iter().find(|m| m.name == "forward").unwrap();
        assert_eq!(forward.dynamic_inputs, vec![vec![false, true], vec![false]]);
        assert_eq!(forward.dynamic_outputs, vec![vec![false, false]]);
        assert_eq!(spec_with_ranges(&forward.inputs[0], &forward.input_dims(0)), "int64[1, 1..15]");
        assert_eq!(spec_with_ranges(&forward.inputs[1], &forward.input_dims(1)), "int64[1]");
        let int = TensorSpec { kind: ValueKind::Int, dtype: None, sizes: Vec::new() };
        assert_eq!(spec_with_ranges(&int, &[]), "int");
    }

    #[test]
    fn the_placeholder_rule_finds_the_buffer_the_program_names() {
        let mut found = Vec::new();
        plans(&data("mutable-buffer.pte"), |plan| found.extend(state_tensors(plan, false)));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            (found[0].value_index, found[0].name.as_deref(), found[0].bytes, found[0].planned),
            (2, Some("cache"), 128, true)
        );
    }

    #[test]
    fn mutable_buffers_are_exactly_the_tensors_written_back_by_copy() {
        // ExecuTorch writes a mutated buffer back with `aten::copy_(buffer, new value)` at the end of the method: an
        // independent witness of which tensors are state.
        for path in [
            data("mutable-buffer.pte"),
            data("llm-metadata.pte"),
            model("llama-tiny-kv-xnnpack.pte"),
            model("llama-tiny-kv-static-xnnpack.pte"),
            model("llama-tiny-kv-fp32.pte"),
            model("gemma3n-tiny-kv-bf16.pte"),
            model("gemma3n-tiny-kv-xnnpack-8da4w.pte"),
        ] {
            plans(&path, |plan| {
                let ops = super::super::op_names(plan);
                let copied: BTreeSet<usize> = plan
                    .chains()
                    .iter()
                    .flatten()
                    .flat_map(|c| c.instructions().into_iter().flatten())
                    .filter_map(|i| i.instr_args_as_kernel_call())
                    .filter(|call| ops.get(call.op_index() as usize).is_some_and(|op| op == "aten::copy_"))
                    .map(|call| call.args().unwrap().get(0) as usize)
                    .collect();
                let found: BTreeSet<usize> = mutable_buffers(plan).iter().map(|b| b.value_index).collect();
                assert_eq!(found, copied, "{} method {}", path.display(), plan.name().unwrap_or(""));
            });
        }
    }

    #[test]
    fn a_buffer_left_out_of_memory_planning_is_added_to_the_memory_a_method_needs() {
        let ins = inspect(&data("unplanned-buffer.pte")).unwrap();
        let forward = ins.methods.iter().find(|m| m.name == "forward").unwrap();
        assert_eq!(
            forward.mutable_buffers.iter().map(|b| (b.name.as_deref(), b.planned)).collect::<Vec<_>>(),
            vec![(Some("k_cache"), false)]
        );
        assert_eq!(forward.memory_bytes(), forward.planned_bytes + 512);
        let kv = ins.kv_cache.as_ref().unwrap();
        assert!(!kv.in_planned_memory);
        assert!(
            render(&ins).iter().any(|l| l.contains("512 B of it outside the method's planned memory")),
            "{:?}",
            render(&ins)
        );
        let planned = inspect(&data("llm-metadata.pte")).unwrap();
        let forward = planned.methods.iter().find(|m| m.name == "forward").unwrap();
        assert_eq!(forward.memory_bytes(), forward.planned_bytes);
    }

    fn llm_inspection() -> Inspection {
        let llm = LlmProgram {
            convention: Convention::TokensInputPos,
            prefill_method: "forward".into(),
            decode_method: "forward".into(),
            max_tokens_per_call: 127,
            dynamic_tokens: Some(true),
            max_context: Some(128),
            max_context_source: Some("get_max_context_len".into()),
            vocab_size: Some(512),
            bos_id: None,
            eos_ids: Vec::new(),
            token_dtype: Dtype::Int64,
            position_dtype: Some(Dtype::Int64),
            extra_inputs: Vec::new(),
        };
        Inspection {
            path: "x.pte".into(),
            file_bytes: 0,
            program_bytes: 0,
            bytes: vec![
                ByteShare { part: NAMED_DATA.into(), bytes: 1_000_000 },
                ByteShare { part: "constants".into(), bytes: 7 },
            ],
            methods: Vec::new(),
            delegates: vec![DelegateSummary { backend: "XnnpackBackend".into(), blobs: 2, bytes: 5_000 }],
            constant_bytes_by_dtype: BTreeMap::from([("float32".to_owned(), 300_000), ("int8".to_owned(), 20_000)]),
            embeddings: Some(EmbeddingSummary {
                tables: 2,
                bytes: 262_144,
                row_bytes: 1_024,
                dtypes: vec!["float32".into()],
                stay_float: false,
            }),
            largest_constants: Vec::new(),
            named_tensors: Vec::new(),
            metadata: BTreeMap::new(),
            llm: Some(llm),
            not_llm: None,
            kv_cache: Some(KvCache {
                method: "forward".into(),
                buffers: 4,
                bytes: 131_072,
                dtype: None,
                shape: None,
                in_planned_memory: true,
            }),
        }
    }

    #[test]
    fn a_decode_step_reads_the_weights_one_row_per_table_and_the_cache_up_to_its_depth() {
        let mut ins = llm_inspection();
        let weights = 320_000 - 262_144 + 5_000 + 1_000_000;
        let at = |ins: &Inspection, depth| decode_step_bytes(ins, depth);
        assert_eq!(
            at(&ins, 32),
            DecodeBytes { weights, embedding_rows: 1_024, kv_cache: 32_768, total: weights + 1_024 + 32_768 }
        );
        assert_eq!(at(&ins, 0).kv_cache, 0);
        assert_eq!(at(&ins, 500).kv_cache, 131_072, "depth is capped at the context");
        ins.llm.as_mut().unwrap().max_context = None;
        assert_eq!(at(&ins, 32).kv_cache, 131_072, "no known context: the whole cache");
        ins.kv_cache = None;
        ins.embeddings = None;
        assert_eq!(at(&ins, 32), DecodeBytes { weights: 1_325_000, embedding_rows: 0, kv_cache: 0, total: 1_325_000 });
    }

    #[test]
    fn the_prefill_line_says_how_a_prompt_is_fed() {
        let mut llm = llm_inspection().llm.unwrap();
        assert_eq!(prefill_line(&llm), "prefill up to 127 tokens per call (dynamic: any 1..127 in one call)");
        llm.dynamic_tokens = Some(false);
        assert_eq!(prefill_line(&llm), "prefill up to 127 tokens per call (static: the prompt goes in chunks of 127)");
        llm.max_tokens_per_call = 1;
        assert_eq!(prefill_line(&llm), "prefill up to 1 token per call (static: the prompt goes token by token)");
        llm.convention = Convention::Window;
        llm.max_tokens_per_call = 32;
        assert_eq!(prefill_line(&llm), "window 32 tokens (static)");
    }
}
