//! `etbench inspect`: reads a `.pte` program flatbuffer (no runtime needed) and answers what is inside: methods and
//! their input/output specs, an operator histogram, delegates, constant bytes by dtype and the largest tensors.
//! The file is memory-mapped and only the flatbuffer part is read, so a 13 GB model inspects instantly.
//! LLM programs also get their metadata values, calling convention, KV cache and decode step bytes (`inspect::llm`).

pub mod etdump;
pub mod fb;
pub mod llm;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use etbench_protocol::{Dtype, LlmProgram, MetaValue, TensorSpec};
use serde::{Deserialize, Serialize};

use fb::program as pte;

#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    // `error`, not `source`: the message already carries its text, so it is not repeated as a cause.
    #[error("{path}: {error}; check the path")]
    Io { path: String, error: std::io::Error },
    #[error("{path} is a directory; pass a .pte file")]
    Directory { path: String },
    #[error("{path} is not an ExecuTorch program: {reason}; re-export it or check the file")]
    NotAProgram { path: String, reason: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpCount {
    pub name: String,
    pub count: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodSummary {
    pub name: String,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
    pub instructions: usize,
    /// Kernel calls per operator (`name.overload`), most frequent first.
    pub operators: Vec<OpCount>,
    pub delegate_calls: usize,
    /// Memory-planned buffers (`non_const_buffer_sizes`): activations and state the runtime allocates at method load.
    #[serde(default)]
    pub planned_bytes: u64,
    /// Per input, which dimensions vary from call to call (`shape_dynamism` not STATIC: `sizes` are then upper
    /// bounds and the lower bound is 1); left out when every input is static.
    #[serde(default, skip_serializing_if = "all_static")]
    pub dynamic_inputs: Vec<Vec<bool>>,
    #[serde(default, skip_serializing_if = "all_static")]
    pub dynamic_outputs: Vec<Vec<bool>>,
    /// State the method writes in place and keeps between calls (a KV cache).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mutable_buffers: Vec<llm::MutableBuffer>,
}

fn all_static(dims: &[Vec<bool>]) -> bool {
    dims.iter().flatten().all(|d| !d)
}

impl MethodSummary {
    /// Which dimensions of input `index` are dynamic (all static when not recorded).
    pub fn input_dims(&self, index: usize) -> Vec<bool> {
        let rank = self.inputs.get(index).map_or(0, |s| s.sizes.len());
        self.dynamic_inputs.get(index).cloned().filter(|d| d.len() == rank).unwrap_or_else(|| vec![false; rank])
    }

    fn output_dims(&self, index: usize) -> Vec<bool> {
        let rank = self.outputs.get(index).map_or(0, |s| s.sizes.len());
        self.dynamic_outputs.get(index).cloned().filter(|d| d.len() == rank).unwrap_or_else(|| vec![false; rank])
    }

    /// Memory the method needs at load: its planned buffers, plus mutable buffers the planner left out.
    pub fn memory_bytes(&self) -> u64 {
        self.planned_bytes + self.mutable_buffers.iter().filter(|b| !b.planned).map(|b| b.bytes).sum::<u64>()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DelegateSummary {
    pub backend: String,
    pub blobs: usize,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorEntry {
    pub method: String,
    pub value_index: usize,
    /// The constant buffer holding the data; values that share one are listed once.
    #[serde(default)]
    pub buffer: u32,
    /// The tensor's fully qualified name, where the program records one (external and mutable tensors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub dtype: Dtype,
    pub sizes: Vec<i64>,
    pub bytes: u64,
    /// Read by an embedding kernel as its table (argument 0 of `*embedding*` ops).
    #[serde(default)]
    pub embedding: bool,
}

/// A tensor the program names (`extra_tensor_info.fully_qualified_name`: mutable buffers exported with
/// `emit_mutable_buffer_names`, tensors whose data lives outside the file); most exports name none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedTensor {
    pub name: String,
    pub method: String,
    pub value_index: usize,
    pub dtype: Dtype,
    pub sizes: Vec<i64>,
    /// `constant`, `mutable buffer` (state in planned memory) or `external data`.
    pub role: String,
}

/// One part of the file; the parts of an [`Inspection`] add up to its `file_bytes` exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ByteShare {
    pub part: String,
    pub bytes: u64,
}

/// The embedding tables: what an int8 weight-only export leaves in its float dtype.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingSummary {
    pub tables: usize,
    pub bytes: u64,
    /// One row of every table (what one token reads).
    #[serde(default)]
    pub row_bytes: u64,
    /// Dtype names of the tables, sorted.
    pub dtypes: Vec<String>,
    /// Some other constant is an integer (quantized) weight while the tables are float: they "stay" unquantized.
    pub stay_float: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inspection {
    pub path: String,
    pub file_bytes: u64,
    pub program_bytes: u64,
    /// The file by part (constants, delegate blobs, shared named data, flatbuffer, other segments, other/padding);
    /// parts of 0 bytes are left out and the rest add up to `file_bytes`.
    #[serde(default)]
    pub bytes: Vec<ByteShare>,
    pub methods: Vec<MethodSummary>,
    pub delegates: Vec<DelegateSummary>,
    /// Constant tensors outside delegates (weights the portable/optimized kernels read), by dtype name.
    pub constant_bytes_by_dtype: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embeddings: Option<EmbeddingSummary>,
    pub largest_constants: Vec<TensorEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub named_tensors: Vec<NamedTensor>,
    /// Values of the constant metadata methods (`get_max_seq_len`, `use_kv_cache`, `get_eos_ids`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, MetaValue>,
    /// How the program is called to generate text, when it is an LLM program.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmProgram>,
    /// The KV cache (mutable buffers of the decode method) of an LLM program with a cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_cache: Option<llm::KvCache>,
    /// Why a program whose signature looks like an LLM step is not taken for one (the evidence that was missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_llm: Option<String>,
}

impl Inspection {
    pub fn is_delegated(&self) -> bool {
        self.methods.iter().any(|m| m.delegate_calls > 0)
    }
}

/// The flatbuffer's length: the extended header ("eh00" at offset 8) names it; without one, the whole file.
fn program_len(bytes: &[u8]) -> usize {
    if bytes.len() >= 24 && &bytes[8..12] == b"eh00" {
        let len = u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes"));
        return (len as usize).min(bytes.len());
    }
    bytes.len()
}

fn spec_of(values: &flatbuffers::Vector<'_, flatbuffers::ForwardsUOffset<pte::EValue<'_>>>, index: i32) -> TensorSpec {
    use etbench_protocol::ValueKind;
    let value = usize::try_from(index).ok().filter(|&i| i < values.len()).map(|i| values.get(i));
    let non_tensor = |kind| TensorSpec { kind, dtype: None, sizes: Vec::new() };
    match value.map(|v| (v.val_type(), v.val_as_tensor())) {
        Some((_, Some(t))) => TensorSpec {
            kind: ValueKind::Tensor,
            dtype: Some(Dtype::from_scalar_type(t.scalar_type().0 as i32)),
            sizes: t.sizes().map(|s| s.iter().map(i64::from).collect()).unwrap_or_default(),
        },
        Some((pte::KernelTypes::Int, _)) => non_tensor(ValueKind::Int),
        Some((pte::KernelTypes::Bool, _)) => non_tensor(ValueKind::Bool),
        Some((pte::KernelTypes::Double, _)) => non_tensor(ValueKind::Double),
        _ => non_tensor(ValueKind::Other),
    }
}

fn op_names(plan: &pte::ExecutionPlan<'_>) -> Vec<String> {
    plan.operators()
        .map(|ops| {
            ops.iter()
                .map(|o| match o.overload().filter(|s| !s.is_empty()) {
                    Some(overload) => format!("{}.{overload}", o.name().unwrap_or("?")),
                    None => o.name().unwrap_or("?").to_owned(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The tensors of a plan that matter for "what is inside": constants (data in the program, no planned memory) and
/// every tensor the program names.
struct PlanTensors {
    constants: Vec<TensorEntry>,
    named: Vec<NamedTensor>,
}

fn tensors_of(plan: &pte::ExecutionPlan<'_>, method: &str, embedding_tables: &BTreeSet<usize>) -> PlanTensors {
    let mut out = PlanTensors { constants: Vec::new(), named: Vec::new() };
    for (value_index, value) in plan.values().unwrap_or_default().iter().enumerate() {
        let Some(t) = value.val_as_tensor() else { continue };
        let dtype = Dtype::from_scalar_type(t.scalar_type().0 as i32);
        let sizes: Vec<i64> = t.sizes().map(|s| s.iter().map(i64::from).collect()).unwrap_or_default();
        let extra = t.extra_tensor_info();
        let name = extra.and_then(|x| x.fully_qualified_name()).filter(|n| !n.is_empty()).map(str::to_owned);
        let constant = t.data_buffer_idx() != 0 && t.allocation_info().is_none();
        if let Some(name) = &name {
            let role = if extra.is_some_and(|x| x.location() == pte::TensorDataLocation::EXTERNAL) {
                "external data"
            } else if constant {
                "constant"
            } else {
                // A named tensor in planned memory: the programs name only mutable buffers (state such as a KV cache).
                "mutable buffer"
            };
            out.named.push(NamedTensor {
                name: name.clone(),
                method: method.to_owned(),
                value_index,
                dtype,
                sizes: sizes.clone(),
                role: role.into(),
            });
        }
        if constant {
            let bytes = sizes.iter().product::<i64>().max(0) as u64 * dtype.element_bytes() as u64;
            let embedding = embedding_tables.contains(&value_index);
            out.constants.push(TensorEntry {
                method: method.to_owned(),
                value_index,
                buffer: t.data_buffer_idx(),
                name,
                dtype,
                sizes,
                bytes,
                embedding,
            });
        }
    }
    out
}

fn method(plan: pte::ExecutionPlan<'_>, tensors: &mut PlanTensors) -> MethodSummary {
    let name = plan.name().unwrap_or("").to_owned();
    let values = plan.values().unwrap_or_default();
    let ops = op_names(&plan);
    let mut histogram: BTreeMap<String, usize> = BTreeMap::new();
    let mut embedding_tables = BTreeSet::new();
    let (mut instructions, mut delegate_calls) = (0, 0);
    for chain in plan.chains().iter().flatten() {
        for instruction in chain.instructions().iter().flatten() {
            instructions += 1;
            if let Some(call) = instruction.instr_args_as_kernel_call() {
                let op = usize::try_from(call.op_index())
                    .ok()
                    .and_then(|i| ops.get(i))
                    .cloned()
                    .unwrap_or_else(|| "?".into());
                // Every embedding kernel (aten::embedding, quantized embedding_byte/_4bit, …) takes its table first.
                if op.contains("embedding") {
                    if let Some(table) =
                        call.args().filter(|a| !a.is_empty()).and_then(|a| usize::try_from(a.get(0)).ok())
                    {
                        embedding_tables.insert(table);
                    }
                }
                *histogram.entry(op).or_default() += 1;
            } else if instruction.instr_args_as_delegate_call().is_some() {
                delegate_calls += 1;
            }
        }
    }
    let found = tensors_of(&plan, &name, &embedding_tables);
    tensors.constants.extend(found.constants);
    tensors.named.extend(found.named);
    let mut operators: Vec<OpCount> = histogram.into_iter().map(|(name, count)| OpCount { name, count }).collect();
    operators.sort_by(|a, b| b.count.cmp(&a.count).then(a.name.cmp(&b.name)));
    let (dynamic_inputs, dynamic_outputs) = llm::dynamic_dims(&plan, &ops);
    MethodSummary {
        dynamic_inputs,
        dynamic_outputs,
        mutable_buffers: llm::mutable_buffers(&plan),
        inputs: plan.inputs().map(|v| v.iter().map(|i| spec_of(&values, i)).collect()).unwrap_or_default(),
        outputs: plan.outputs().map(|v| v.iter().map(|i| spec_of(&values, i)).collect()).unwrap_or_default(),
        planned_bytes: plan
            .non_const_buffer_sizes()
            .map(|v| v.iter().filter(|b| *b > 0).map(|b| b as u64).sum())
            .unwrap_or(0),
        name,
        instructions,
        operators,
        delegate_calls,
    }
}

/// Where a delegate's processed blob is: inline in the flatbuffer, or a segment.
enum Blob {
    Inline(u64),
    Segment(usize),
}

fn blob_of(program: &pte::Program<'_>, delegate: &pte::BackendDelegate<'_>) -> Option<Blob> {
    let p = delegate.processed()?;
    let index = p.index() as usize;
    match p.location() {
        pte::DataLocation::INLINE => {
            let data = program.backend_delegate_data()?;
            (index < data.len()).then(|| Blob::Inline(data.get(index).data().map_or(0, |d| d.len() as u64)))
        }
        _ => Some(Blob::Segment(index)),
    }
}

fn segment_size(program: &pte::Program<'_>, index: usize) -> u64 {
    program.segments().and_then(|s| (index < s.len()).then(|| s.get(index).size_())).unwrap_or(0)
}

fn delegates(program: &pte::Program<'_>) -> Vec<DelegateSummary> {
    let mut by_backend: BTreeMap<String, (usize, u64)> = BTreeMap::new();
    for plan in program.execution_plan().iter().flatten() {
        for delegate in plan.delegates().iter().flatten() {
            let bytes = match blob_of(program, &delegate) {
                Some(Blob::Inline(bytes)) => bytes,
                Some(Blob::Segment(index)) => segment_size(program, index),
                None => 0,
            };
            let entry = by_backend.entry(delegate.id().unwrap_or("?").to_owned()).or_default();
            entry.0 += 1;
            entry.1 += bytes;
        }
    }
    by_backend.into_iter().map(|(backend, (blobs, bytes))| DelegateSummary { backend, blobs, bytes }).collect()
}

const CONSTANTS: &str = "constants (weights outside delegates)";
const DELEGATE_BLOBS: &str = "delegate blobs";
const NAMED_DATA: &str = "named data (weights shared with delegates)";
const MUTABLE: &str = "mutable data";
const FLATBUFFER: &str = "flatbuffer (graph, specs, metadata)";
const OTHER_SEGMENTS: &str = "other segments";
const OTHER: &str = "other/padding";

/// Parts of the file being counted; each segment is claimed once.
#[derive(Default)]
struct Parts {
    parts: Vec<(&'static str, u64)>,
    claimed: BTreeSet<usize>,
}

impl Parts {
    fn add(&mut self, part: &'static str, bytes: u64) {
        match self.parts.iter_mut().find(|(p, _)| *p == part) {
            Some(entry) => entry.1 += bytes,
            None => self.parts.push((part, bytes)),
        }
    }

    fn segment(&mut self, program: &pte::Program<'_>, index: usize, part: &'static str) {
        if self.claimed.insert(index) {
            self.add(part, segment_size(program, index));
        }
    }
}

/// The file by part. Inline constants and delegate data sit inside the flatbuffer and are moved out of its count;
/// each segment is counted once, under the first role that claims it; what no part covers (alignment between the
/// flatbuffer and segments and between segments, trailing bytes) is "other/padding", so the parts add up to the file.
fn byte_breakdown(program: &pte::Program<'_>, program_len: u64, file_bytes: u64) -> Vec<ByteShare> {
    let mut parts = Parts::default();
    if let Some(c) = program.constant_segment() {
        // Offsets list one entry per constant buffer, the first being the reserved empty one.
        if c.offsets().is_some_and(|o| o.len() > 1) {
            parts.segment(program, c.segment_index() as usize, CONSTANTS);
        }
    }
    let mut inline: u64 =
        program.constant_buffer().iter().flatten().map(|b| b.storage().map_or(0, |s| s.len() as u64)).sum();
    parts.add(CONSTANTS, inline);
    for plan in program.execution_plan().iter().flatten() {
        for delegate in plan.delegates().iter().flatten() {
            match blob_of(program, &delegate) {
                Some(Blob::Inline(bytes)) => {
                    parts.add(DELEGATE_BLOBS, bytes);
                    inline += bytes;
                }
                Some(Blob::Segment(index)) => parts.segment(program, index, DELEGATE_BLOBS),
                None => {}
            }
        }
    }
    for named in program.named_data().iter().flatten() {
        parts.segment(program, named.segment_index() as usize, NAMED_DATA);
    }
    for mutable in program.mutable_data_segments().iter().flatten() {
        parts.segment(program, mutable.segment_index() as usize, MUTABLE);
    }
    for index in 0..program.segments().map_or(0, |s| s.len()) {
        parts.segment(program, index, OTHER_SEGMENTS);
    }
    parts.add(FLATBUFFER, program_len.saturating_sub(inline));
    let covered: u64 = parts.parts.iter().map(|(_, b)| b).sum();
    parts.add(OTHER, file_bytes.saturating_sub(covered));
    parts
        .parts
        .into_iter()
        .filter(|(_, b)| *b > 0)
        .map(|(part, bytes)| ByteShare { part: part.to_owned(), bytes })
        .collect()
}

fn embeddings(constants: &[TensorEntry]) -> Option<EmbeddingSummary> {
    let tables: Vec<&TensorEntry> = constants.iter().filter(|c| c.embedding).collect();
    if tables.is_empty() {
        return None;
    }
    // Quantized weights are integer matrices (scales and zero points are vectors).
    let quantized_elsewhere =
        constants.iter().any(|c| !c.embedding && matches!(c.dtype, Dtype::Int8 | Dtype::Uint8) && c.sizes.len() >= 2);
    Some(EmbeddingSummary {
        tables: tables.len(),
        bytes: tables.iter().map(|t| t.bytes).sum(),
        row_bytes: tables.iter().map(|t| t.bytes / t.sizes.first().copied().unwrap_or(1).max(1) as u64).sum(),
        stay_float: quantized_elsewhere && tables.iter().all(|t| t.dtype.is_float()),
        dtypes: tables.iter().map(|t| t.dtype.name()).collect::<BTreeSet<_>>().into_iter().collect(),
    })
}

pub fn inspect(path: &Path) -> Result<Inspection, InspectError> {
    let shown = path.display().to_string();
    if path.is_dir() {
        return Err(InspectError::Directory { path: shown });
    }
    let file = std::fs::File::open(path).map_err(|error| InspectError::Io { path: shown.clone(), error })?;
    // Safety: the map is read-only and lives only inside this function; a concurrent truncation of the file could
    // fault, the same risk every mmap reader takes (ExecuTorch's own loader included).
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|error| InspectError::Io { path: shown.clone(), error })?;
    let not_a_program = |reason: String| InspectError::NotAProgram { path: shown.clone(), reason };
    if map.len() < 8 || !matches!(&map[4..8], b"ET12" | b"ET13") {
        return Err(not_a_program("no ExecuTorch flatbuffer identifier (ET12) at offset 4".into()));
    }
    let program_bytes = program_len(&map);
    let program = pte::root_as_program_with_opts(&verifier_options(), &map[..program_bytes])
        .map_err(|e| not_a_program(e.to_string()))?;
    let mut tensors = PlanTensors { constants: Vec::new(), named: Vec::new() };
    let methods: Vec<MethodSummary> =
        program.execution_plan().iter().flatten().map(|plan| method(plan, &mut tensors)).collect();
    let metadata: BTreeMap<String, MetaValue> = program
        .execution_plan()
        .iter()
        .flatten()
        .filter_map(|plan| Some((plan.name()?.to_owned(), llm::metadata_value(&program, &map, &plan)?)))
        .collect();
    let recognised = llm::recognise(&methods, &metadata);
    let not_llm = recognised.as_ref().err().filter(|why| why.contains("has no KV cache")).cloned();
    let llm = recognised.ok();
    let kv_cache = llm.as_ref().and_then(|l| llm::kv_cache(&methods, l));
    let PlanTensors { constants: all, named: named_tensors } = tensors;
    // Constant buffers belong to the program: several values (of one method or several) may read the same one.
    let mut constants: Vec<TensorEntry> = Vec::new();
    for c in all {
        match constants.iter_mut().find(|k| k.buffer == c.buffer) {
            Some(kept) => kept.embedding |= c.embedding,
            None => constants.push(c),
        }
    }
    let mut constant_bytes_by_dtype: BTreeMap<String, u64> = BTreeMap::new();
    for c in &constants {
        *constant_bytes_by_dtype.entry(c.dtype.name()).or_default() += c.bytes;
    }
    let embeddings = embeddings(&constants);
    constants.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.value_index.cmp(&b.value_index)));
    constants.truncate(10);
    Ok(Inspection {
        path: shown.clone(),
        file_bytes: map.len() as u64,
        program_bytes: program_bytes as u64,
        bytes: byte_breakdown(&program, program_bytes as u64, map.len() as u64),
        delegates: delegates(&program),
        methods,
        constant_bytes_by_dtype,
        embeddings,
        largest_constants: constants,
        named_tensors,
        metadata,
        llm,
        kv_cache,
        not_llm,
    })
}

/// Byte counts in the inspection: [`crate::units::binary`] (bytes, then KiB, MiB, GiB; never "0.00 MiB").
use crate::units::binary as size;

/// `2359296` → `2,359,296`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn percent(part: u64, whole: u64) -> String {
    format!("{:.1}%", part as f64 * 100.0 / whole.max(1) as f64)
}

fn embedding_line(ins: &Inspection) -> Option<String> {
    let e = ins.embeddings.as_ref()?;
    let dtypes = e.dtypes.join("/");
    let tables = if e.tables == 1 { "1 table".to_owned() } else { format!("{} tables", e.tables) };
    let share = format!(
        "{} of {} ({} of the file; {tables})",
        size(e.bytes),
        size(ins.file_bytes),
        percent(e.bytes, ins.file_bytes)
    );
    Some(if e.stay_float {
        format!("embeddings stay {dtypes}: {share}; the other weights are quantized")
    } else {
        format!("embeddings are {dtypes}: {share}")
    })
}

/// Human rendering.
// Over 80 lines on purpose: the `inspect` text, section by section, in the order it prints.
pub fn render(ins: &Inspection) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "{}: {} ({} bytes)", ins.path, size(ins.file_bytes), grouped(ins.file_bytes));
    let _ = writeln!(
        out,
        "delegated: {}",
        if ins.is_delegated() {
            ins.delegates
                .iter()
                .map(|d| format!("{} ({} blobs, {})", d.backend, d.blobs, size(d.bytes)))
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            "no (every op runs on the portable/optimized CPU kernels)".into()
        }
    );
    if let Some(line) = embedding_line(ins) {
        let _ = writeln!(out, "{line}");
    }
    for line in llm::render(ins) {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out, "bytes:");
    let width = ins.bytes.iter().map(|b| b.part.chars().count()).max().unwrap_or(0).max(5);
    let total: u64 = ins.bytes.iter().map(|b| b.bytes).sum();
    for b in &ins.bytes {
        let _ = writeln!(
            out,
            "  {:<width$}  {:>13}  {:>10}  {:>6}",
            b.part,
            grouped(b.bytes),
            size(b.bytes),
            percent(b.bytes, ins.file_bytes)
        );
    }
    let check = if total == ins.file_bytes { "= file size" } else { "≠ file size" };
    let _ = writeln!(out, "  {:<width$}  {:>13}  {:>10}  {check}", "total", grouped(total), size(total));
    for m in ins.methods.iter().filter(|m| !ins.metadata.contains_key(&m.name)) {
        let inputs: Vec<String> =
            m.inputs.iter().enumerate().map(|(i, s)| llm::spec_with_ranges(s, &m.input_dims(i))).collect();
        let outs: Vec<String> =
            m.outputs.iter().enumerate().map(|(i, s)| llm::spec_with_ranges(s, &m.output_dims(i))).collect();
        let _ = writeln!(
            out,
            "method {}: inputs [{}] → outputs [{}]; {} instructions, {} delegate calls",
            m.name,
            inputs.join(", "),
            outs.join(", "),
            m.instructions,
            m.delegate_calls
        );
        for op in m.operators.iter().take(12) {
            let _ = writeln!(out, "  {:>5} × {}", op.count, op.name);
        }
        if m.operators.len() > 12 {
            let _ = writeln!(out, "  … {} more operators", m.operators.len() - 12);
        }
    }
    if !ins.metadata.is_empty() {
        let _ = writeln!(out, "metadata (constant methods):");
        let width = ins.metadata.keys().map(|k| k.chars().count()).max().unwrap_or(0);
        for (name, value) in &ins.metadata {
            let _ = writeln!(out, "  {name:<width$}  {value}");
        }
    }
    if !ins.constant_bytes_by_dtype.is_empty() {
        let _ = writeln!(out, "constant tensors outside delegates, by dtype:");
        for (dtype, bytes) in &ins.constant_bytes_by_dtype {
            let _ = writeln!(out, "  {dtype:>9}: {}", size(*bytes));
        }
        let _ = writeln!(out, "largest constants:");
        for t in &ins.largest_constants {
            let name = t.name.clone().unwrap_or_else(|| format!("value {}", t.value_index));
            let role = if t.embedding { "  (embedding table)" } else { "" };
            let _ = writeln!(
                out,
                "  {name:<12} {:>9} {:<14} {:>10}{role}",
                t.dtype.name(),
                format!("{:?}", t.sizes),
                size(t.bytes)
            );
        }
    }
    if !ins.named_tensors.is_empty() {
        let _ = writeln!(out, "named tensors:");
        for t in &ins.named_tensors {
            let _ = writeln!(
                out,
                "  {:<24} {:>9} {:<14} {} (method {}, value {})",
                t.name,
                t.dtype.name(),
                format!("{:?}", t.sizes),
                t.role,
                t.method,
                t.value_index
            );
        }
    }
    out
}

/// Flatbuffer verifier limits for multi-GB programs and long ETDumps: the defaults reject large tables.
pub(crate) fn verifier_options() -> flatbuffers::VerifierOptions {
    flatbuffers::VerifierOptions { max_tables: usize::MAX / 2, max_apparent_size: usize::MAX / 2, ..Default::default() }
}

/// The weights' dtype as the program shows it: `fp32`, `bf16`, `fp16`, or `int8 weight-only` (int8 weights
/// outweigh the float ones outside the embedding tables, and no operator quantizes activations). `None` when a
/// delegate holds the weights (their dtype is inside the delegate's own format: fp32 and 8da4w XNNPACK programs look
/// alike from outside), or when the constants fit none of these.
pub fn dtype_of(ins: &Inspection) -> Option<&'static str> {
    if !ins.delegates.is_empty() {
        return None;
    }
    const FLOATS: [(&str, &str); 3] = [("float32", "fp32"), ("bfloat16", "bf16"), ("float16", "fp16")];
    let bytes = |dtype: &str| ins.constant_bytes_by_dtype.get(dtype).copied().unwrap_or(0);
    let floats: u64 = FLOATS.iter().map(|(d, _)| bytes(d)).sum();
    let float_tables = ins.embeddings.as_ref().filter(|e| e.dtypes.iter().all(|d| FLOATS.iter().any(|(f, _)| f == d)));
    let float_weights = floats.saturating_sub(float_tables.map_or(0, |e| e.bytes));
    if bytes("int8") + bytes("uint8") > float_weights {
        let dynamic = ins.methods.iter().flat_map(|m| &m.operators).any(|op| op.name.contains("choose_qparams"));
        return (bytes("uint8") == 0 && !dynamic).then_some("int8 weight-only");
    }
    FLOATS.iter().filter(|(d, _)| bytes(d) > 0).max_by_key(|(d, _)| bytes(d)).map(|(_, label)| *label)
}

/// `xnnpack` for `XnnpackBackend` (several: sorted, joined by `+`); `portable` without a delegate.
pub fn backend_of<'a>(delegates: impl Iterator<Item = &'a str>) -> String {
    let mut names: Vec<String> = delegates
        .map(|id| id.trim().strip_suffix("Backend").unwrap_or(id.trim()).to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    names.sort();
    names.dedup();
    if names.is_empty() {
        "portable".into()
    } else {
        names.join("+")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_never_round_to_zero_and_group_digits() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(640), "640 B");
        assert_eq!(size(1536), "1.50 KiB");
        assert_eq!(size(5 << 20), "5.00 MiB");
        assert_eq!(grouped(2_359_296), "2,359,296");
        assert_eq!(grouped(999), "999");
    }
}
