//! `etbench inspect`: reads a `.pte` program flatbuffer (no runtime needed) and answers what is inside: methods and
//! their input/output specs, an operator histogram, delegates, constant bytes by dtype and the largest tensors.
//! The file is memory-mapped and only the flatbuffer part is read, so a 13 GB model inspects instantly.


pub mod etdump;
pub mod fb;

use std::collections::BTreeMap;
use std::path::Path;

use etbench_protocol::{Dtype, TensorSpec};
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
    pub dtype: Dtype,
    pub sizes: Vec<i64>,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inspection {
    pub path: String,
    pub file_bytes: u64,
    pub program_bytes: u64,
    pub methods: Vec<MethodSummary>,
    pub delegates: Vec<DelegateSummary>,
    /// Constant tensors outside delegates (weights the portable/optimized kernels read), by dtype name.
    pub constant_bytes_by_dtype: BTreeMap<String, u64>,
    pub largest_constants: Vec<TensorEntry>,
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
    let tensor = usize::try_from(index).ok().filter(|&i| i < values.len()).and_then(|i| values.get(i).val_as_tensor());
    match tensor {
        Some(t) => TensorSpec {
            kind: etbench_protocol::ValueKind::Tensor,
            dtype: Some(Dtype::from_scalar_type(t.scalar_type().0 as i32)),
            sizes: t.sizes().map(|s| s.iter().map(i64::from).collect()).unwrap_or_default(),
        },
        None => TensorSpec { kind: etbench_protocol::ValueKind::Other, dtype: None, sizes: Vec::new() },
    }
}

fn method(plan: pte::ExecutionPlan<'_>, constants: &mut Vec<TensorEntry>) -> MethodSummary {
    let name = plan.name().unwrap_or("").to_owned();
    let values = plan.values().unwrap_or_default();
    let ops: Vec<String> = plan
        .operators()
        .map(|ops| {
            ops.iter()
                .map(|o| match o.overload().filter(|s| !s.is_empty()) {
                    Some(overload) => format!("{}.{overload}", o.name().unwrap_or("?")),
                    None => o.name().unwrap_or("?").to_owned(),
                })
                .collect()
        })
        .unwrap_or_default();
    let mut histogram: BTreeMap<String, usize> = BTreeMap::new();
    let (mut instructions, mut delegate_calls) = (0, 0);
    for chain in plan.chains().iter().flatten() {
        for instruction in chain.instructions().iter().flatten() {
            instructions += 1;
            if let Some(call) = instruction.instr_args_as_kernel_call() {
                let op = usize::try_from(call.op_index()).ok().and_then(|i| ops.get(i)).cloned().unwrap_or_else(|| "?".into());
                *histogram.entry(op).or_default() += 1;
            } else if instruction.instr_args_as_delegate_call().is_some() {
                delegate_calls += 1;
            }
        }
    }
    for (value_index, value) in values.iter().enumerate() {
        let Some(t) = value.val_as_tensor() else { continue };
        if t.data_buffer_idx() == 0 || t.allocation_info().is_some() {
            continue;
        }
        let dtype = Dtype::from_scalar_type(t.scalar_type().0 as i32);
        let sizes: Vec<i64> = t.sizes().map(|s| s.iter().map(i64::from).collect()).unwrap_or_default();
        let bytes = sizes.iter().product::<i64>().max(0) as u64 * dtype.element_bytes() as u64;
        constants.push(TensorEntry { method: name.clone(), value_index, dtype, sizes, bytes });
    }
    let mut operators: Vec<OpCount> = histogram.into_iter().map(|(name, count)| OpCount { name, count }).collect();
    operators.sort_by(|a, b| b.count.cmp(&a.count).then(a.name.cmp(&b.name)));
    MethodSummary {
        inputs: plan.inputs().map(|v| v.iter().map(|i| spec_of(&values, i)).collect()).unwrap_or_default(),
        outputs: plan.outputs().map(|v| v.iter().map(|i| spec_of(&values, i)).collect()).unwrap_or_default(),
        name,
        instructions,
        operators,
        delegate_calls,
    }
}

fn delegates(program: &pte::Program<'_>) -> Vec<DelegateSummary> {
    let mut by_backend: BTreeMap<String, (usize, u64)> = BTreeMap::new();
    for plan in program.execution_plan().iter().flatten() {
        for delegate in plan.delegates().iter().flatten() {
            let bytes = delegate.processed().map_or(0, |p| {
                let index = p.index() as usize;
                match p.location() {
                    pte::DataLocation::INLINE => program
                        .backend_delegate_data()
                        .and_then(|d| (index < d.len()).then(|| d.get(index)))
                        .and_then(|d| d.data())
                        .map_or(0, |d| d.len() as u64),
                    _ => program.segments().and_then(|s| (index < s.len()).then(|| s.get(index).size_())).unwrap_or(0),
                }
            });
            let entry = by_backend.entry(delegate.id().unwrap_or("?").to_owned()).or_default();
            entry.0 += 1;
            entry.1 += bytes;
        }
    }
    by_backend.into_iter().map(|(backend, (blobs, bytes))| DelegateSummary { backend, blobs, bytes }).collect()
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
    let mut opts = flatbuffers::VerifierOptions::default();
    opts.max_tables = usize::MAX / 2;
    opts.max_apparent_size = usize::MAX / 2;
    let program = pte::root_as_program_with_opts(&opts, &map[..program_bytes]).map_err(|e| not_a_program(e.to_string()))?;
    let mut constants = Vec::new();
    let methods = program.execution_plan().iter().flatten().map(|plan| method(plan, &mut constants)).collect();
    let mut constant_bytes_by_dtype: BTreeMap<String, u64> = BTreeMap::new();
    for c in &constants {
        *constant_bytes_by_dtype.entry(c.dtype.name()).or_default() += c.bytes;
    }
    constants.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.value_index.cmp(&b.value_index)));
    constants.truncate(10);
    Ok(Inspection {
        path: shown.clone(),
        file_bytes: map.len() as u64,
        program_bytes: program_bytes as u64,
        delegates: delegates(&program),
        methods,
        constant_bytes_by_dtype,
        largest_constants: constants,
    })
}

/// Human rendering.
pub fn render(ins: &Inspection) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let mib = |b: u64| format!("{:.2} MiB", b as f64 / 1048576.0);
    let _ = writeln!(out, "{}: {} ({} flatbuffer)", ins.path, mib(ins.file_bytes), mib(ins.program_bytes));
    let _ = writeln!(
        out,
        "delegated: {}",
        if ins.is_delegated() {
            ins.delegates.iter().map(|d| format!("{} ({} blobs, {})", d.backend, d.blobs, mib(d.bytes))).collect::<Vec<_>>().join(", ")
        } else {
            "no (every op runs on the portable/optimized CPU kernels)".into()
        }
    );
    for m in &ins.methods {
        let spec = |s: &TensorSpec| format!("{}{:?}", s.dtype.map(|d| d.name()).unwrap_or_else(|| "non-tensor".into()), s.sizes);
        let _ = writeln!(
            out,
            "method {}: inputs [{}] → outputs [{}]; {} instructions, {} delegate calls",
            m.name,
            m.inputs.iter().map(spec).collect::<Vec<_>>().join(", "),
            m.outputs.iter().map(spec).collect::<Vec<_>>().join(", "),
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
    let _ = writeln!(out, "constant bytes outside delegates, by dtype:");
    for (dtype, bytes) in &ins.constant_bytes_by_dtype {
        let _ = writeln!(out, "  {dtype:>9}: {}", mib(*bytes));
    }
    let _ = writeln!(out, "largest constants:");
    for t in &ins.largest_constants {
        let _ = writeln!(out, "  value {:>5} {:>9} {:?} {}", t.value_index, t.dtype.name(), t.sizes, mib(t.bytes));
    }
    out
}
