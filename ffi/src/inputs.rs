//! Inputs for any program: turns each input's [`InputSpec`] and the method's metadata into the exact bytes (or
//! scalar) fed to ExecuTorch, and a record of what was fed (spec, dtype, shape, sha256 of the bytes).
//!
//! Generators are deterministic across devices: `ids` is a fixed formula, `random:SEED` is SplitMix64 over the
//! flat element index, so the export scripts can reproduce them to record expected outputs.

use etbench_protocol::{default_ids, splitmix64, Dtype, InputRecord, InputSpec, RunSpec, TensorSpec, ValueKind};
use sha2::{Digest, Sha256};

use crate::Scalar;

/// One input, ready to feed.
#[derive(Debug, Clone, PartialEq)]
pub enum Fed {
    Tensor { dtype: Dtype, sizes: Vec<i64>, bytes: Vec<u8> },
    Scalar(Scalar),
}

/// A built input and its record for the results.
#[derive(Debug, Clone)]
pub struct Built {
    pub fed: Fed,
    pub record: InputRecord,
    /// The values of an integer tensor (token ids), for generation and the vocabulary check.
    pub ids: Option<Vec<i64>>,
}

/// Builds every input of a method. Errors name the input and say what to pass instead.
pub fn build_all(
    spec: &RunSpec,
    method: &str,
    inputs: &[TensorSpec],
    vocab: Option<i64>,
) -> Result<Vec<Built>, String> {
    if spec.inputs.len() > inputs.len() {
        return Err(format!(
            "--input for index {} but method `{method}` takes {} input{} ({}); drop the extra --input",
            spec.inputs.len() - 1,
            inputs.len(),
            if inputs.len() == 1 { "" } else { "s" },
            describe_all(inputs)
        ));
    }
    let built = inputs
        .iter()
        .enumerate()
        .map(|(i, value)| {
            let mut input = spec.input_for(i, value);
            // etbench's own `ids` formula reaches 510: a smaller vocabulary gets the same ids modulo its size, so
            // the default input always fits the program (every integer input given the default ids: a plain
            // program's second one, positions or a second id stream, indexes a table no smaller than the vocabulary
            // as often as not, and ids past the vocabulary fit nothing).
            if let (InputSpec::Ids, Some(v)) = (&input, vocab) {
                let ids = default_ids(value.numel().max(0) as usize);
                if ids.iter().any(|&id| id >= v) && v > 0 {
                    input = InputSpec::Values(ids.iter().map(|id| id % v).collect());
                }
            }
            build(i, &input, value).map_err(|e| format!("input {i} of method `{method}` ({}): {e}", value.describe()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let (Some(first), Some(vocab)) = (built.first(), vocab) {
        check_vocabulary(first, vocab)?;
    }
    Ok(built)
}

fn describe_all(inputs: &[TensorSpec]) -> String {
    inputs.iter().map(TensorSpec::describe).collect::<Vec<_>>().join(", ")
}

/// Token ids fed to a model whose first output looks like logits must be inside its vocabulary.
fn check_vocabulary(input: &Built, vocab: i64) -> Result<(), String> {
    if !matches!(input.record.spec, InputSpec::Ids | InputSpec::Values(_)) {
        return Ok(());
    }
    match input.ids.iter().flatten().find(|&&id| id < 0 || id >= vocab) {
        Some(bad) => Err(format!("token id {bad} is outside the model's vocabulary (0..{vocab})")),
        None => Ok(()),
    }
}

fn build(index: usize, spec: &InputSpec, value: &TensorSpec) -> Result<Built, String> {
    let (fed, ids) = match value.kind {
        ValueKind::Tensor => {
            let dtype = value.dtype.ok_or("a tensor without a dtype")?;
            if crate::scalar_type_code(dtype).is_none() {
                return Err(format!("dtype {} cannot be fed by this runner (supported: bool, uint8, int8, int16, int32, int64, float16, bfloat16, float32, float64)", dtype.name()));
            }
            if value.sizes.iter().any(|&s| s < 0) {
                return Err("a tensor with dynamic (negative) sizes; export with static shapes".into());
            }
            let numel = value.numel() as usize;
            let (bytes, ids) = tensor_bytes(spec, dtype, &value.sizes, numel)?;
            (Fed::Tensor { dtype, sizes: value.sizes.clone(), bytes }, ids)
        }
        ValueKind::Int | ValueKind::Double | ValueKind::Bool => (Fed::Scalar(scalar(spec, value.kind)?), None),
        ValueKind::Other => return Err("a non-tensor value of a kind the runner cannot feed (string or list)".into()),
    };
    let sha256 = match &fed {
        Fed::Tensor { bytes, .. } => format!("{:x}", Sha256::digest(bytes)),
        Fed::Scalar(s) => format!("{:x}", Sha256::digest(scalar_bytes(*s))),
    };
    let record = InputRecord { index: index as u32, spec: spec.clone(), value: value.clone(), sha256 };
    Ok(Built { fed, record, ids })
}

fn scalar_bytes(s: Scalar) -> [u8; 8] {
    match s {
        Scalar::Int(v) => v.to_le_bytes(),
        Scalar::Double(v) => v.to_le_bytes(),
        Scalar::Bool(v) => (v as i64).to_le_bytes(),
    }
}

fn scalar(spec: &InputSpec, kind: ValueKind) -> Result<Scalar, String> {
    let number = match spec {
        InputSpec::Zeros => 0.0,
        InputSpec::Ones => 1.0,
        InputSpec::Int(v) => *v as f64,
        InputSpec::Double(v) => *v,
        InputSpec::Bool(v) => *v as i64 as f64,
        other => {
            return Err(format!("`{other}` is for tensors; give a scalar with int:N, double:X, bool:B, zeros or ones"))
        }
    };
    Ok(match kind {
        ValueKind::Int if number.fract() == 0.0 => Scalar::Int(number as i64),
        ValueKind::Int => return Err(format!("`{spec}` is not an integer")),
        ValueKind::Bool => Scalar::Bool(number != 0.0),
        _ => Scalar::Double(number),
    })
}

/// The bytes of a tensor input, and its values when it is an integer tensor.
fn tensor_bytes(
    spec: &InputSpec,
    dtype: Dtype,
    sizes: &[i64],
    numel: usize,
) -> Result<(Vec<u8>, Option<Vec<i64>>), String> {
    let ints = |values: Vec<i64>| -> Result<(Vec<u8>, Option<Vec<i64>>), String> {
        let bytes = encode_ints(dtype, &values)?;
        Ok((bytes, dtype.is_integer().then_some(values)))
    };
    match spec {
        InputSpec::Default => unreachable!("RunSpec::input_for resolves the default"),
        InputSpec::Ids => ints(default_ids(numel)),
        InputSpec::Values(values) if values.len() != numel => {
            Err(format!("expects {numel} values (shape {sizes:?}), got {}; pass exactly {numel}", values.len()))
        }
        InputSpec::Values(values) => ints(values.clone()),
        InputSpec::Zeros => ints(vec![0; numel]),
        InputSpec::Ones => ints(vec![1; numel]),
        InputSpec::Random { seed } if dtype.is_float() => {
            let values: Vec<f64> =
                splitmix64(*seed, numel).map(|z| 2.0 * ((z >> 40) as f64 / (1u64 << 24) as f64) - 1.0).collect();
            Ok((encode_floats(dtype, &values), None))
        }
        InputSpec::Random { seed } if dtype == Dtype::Bool => {
            ints(splitmix64(*seed, numel).map(|z| (z >> 63) as i64).collect())
        }
        InputSpec::Random { seed } => ints(splitmix64(*seed, numel).map(|z| ((z >> 33) % 100) as i64).collect()),
        InputSpec::File { path } => {
            let bytes = read_file(path, dtype, sizes, numel)?;
            let ids = dtype.is_integer().then(|| decode_ints(dtype, &bytes));
            Ok((bytes, ids))
        }
        InputSpec::Int(_) | InputSpec::Double(_) | InputSpec::Bool(_) => Err(format!(
            "`{spec}` is a scalar but this input is a tensor; use ids, zeros, ones, random[:SEED] or file:PATH"
        )),
    }
}

/// Integer values as the raw little-endian elements of a tensor of `dtype` (refused when a value does not fit).
pub fn encode_ints(dtype: Dtype, values: &[i64]) -> Result<Vec<u8>, String> {
    let range = |lo: i64, hi: i64| -> Result<(), String> {
        match values.iter().find(|v| **v < lo || **v > hi) {
            Some(v) => Err(format!("value {v} does not fit {} ({lo}..={hi})", dtype.name())),
            None => Ok(()),
        }
    };
    Ok(match dtype {
        Dtype::Int64 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        Dtype::Int32 => {
            range(i32::MIN as i64, i32::MAX as i64)?;
            values.iter().flat_map(|v| (*v as i32).to_le_bytes()).collect()
        }
        Dtype::Int16 => {
            range(i16::MIN as i64, i16::MAX as i64)?;
            values.iter().flat_map(|v| (*v as i16).to_le_bytes()).collect()
        }
        Dtype::Int8 => {
            range(i8::MIN as i64, i8::MAX as i64)?;
            values.iter().map(|v| *v as i8 as u8).collect()
        }
        Dtype::Uint8 => {
            range(0, 255)?;
            values.iter().map(|v| *v as u8).collect()
        }
        Dtype::Bool => values.iter().map(|v| (*v != 0) as u8).collect(),
        float => encode_floats(float, &values.iter().map(|v| *v as f64).collect::<Vec<_>>()),
    })
}

fn encode_floats(dtype: Dtype, values: &[f64]) -> Vec<u8> {
    match dtype {
        Dtype::Float64 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        Dtype::Float16 => values.iter().flat_map(|v| half::f16::from_f32(*v as f32).to_le_bytes()).collect(),
        Dtype::Bfloat16 => values.iter().flat_map(|v| half::bf16::from_f32(*v as f32).to_le_bytes()).collect(),
        _ => values.iter().flat_map(|v| (*v as f32).to_le_bytes()).collect(),
    }
}

fn decode_ints(dtype: Dtype, bytes: &[u8]) -> Vec<i64> {
    let n = dtype.element_bytes();
    bytes
        .chunks_exact(n)
        .map(|c| match dtype {
            Dtype::Int64 => i64::from_le_bytes(c.try_into().expect("8 bytes")),
            Dtype::Int32 => i32::from_le_bytes(c.try_into().expect("4 bytes")) as i64,
            Dtype::Int16 => i16::from_le_bytes(c.try_into().expect("2 bytes")) as i64,
            Dtype::Int8 => c[0] as i8 as i64,
            _ => c[0] as i64,
        })
        .collect()
}

/// A `file:` input: raw little-endian elements, or a `.npy` array whose dtype and shape must match.
fn read_file(path: &str, dtype: Dtype, sizes: &[i64], numel: usize) -> Result<Vec<u8>, String> {
    let data = std::fs::read(path).map_err(|e| format!("file:{path}: {e}"))?;
    let expected = numel * dtype.element_bytes();
    let bytes = if data.starts_with(b"\x93NUMPY") { npy_payload(path, &data, dtype, sizes)? } else { data };
    if bytes.len() != expected {
        return Err(format!(
            "file:{path} holds {} bytes, but {}{sizes:?} needs {expected} ({numel} × {} bytes); write the raw little-endian elements or an .npy",
            bytes.len(),
            dtype.name(),
            dtype.element_bytes()
        ));
    }
    Ok(bytes)
}

/// numpy's `descr` for a dtype (bfloat16 has none in numpy: use raw bytes).
fn npy_descr(dtype: Dtype) -> Option<&'static str> {
    Some(match dtype {
        Dtype::Bool => "|b1",
        Dtype::Uint8 => "|u1",
        Dtype::Int8 => "|i1",
        Dtype::Int16 => "<i2",
        Dtype::Int32 => "<i4",
        Dtype::Int64 => "<i8",
        Dtype::Float16 => "<f2",
        Dtype::Float32 => "<f4",
        Dtype::Float64 => "<f8",
        Dtype::Bfloat16 | Dtype::Other(_) => return None,
    })
}

/// The array bytes of an `.npy` file (format versions 1–3), after checking dtype, order and shape.
fn npy_payload(path: &str, data: &[u8], dtype: Dtype, sizes: &[i64]) -> Result<Vec<u8>, String> {
    let bad = |what: String| format!("file:{path}: {what}");
    let (header_len, start) = match data.get(6) {
        Some(1) if data.len() >= 10 => (u16::from_le_bytes([data[8], data[9]]) as usize, 10),
        Some(2 | 3) if data.len() >= 12 => (u32::from_le_bytes([data[8], data[9], data[10], data[11]]) as usize, 12),
        _ => return Err(bad("not a readable .npy (unknown format version)".into())),
    };
    let header = data.get(start..start + header_len).ok_or_else(|| bad("truncated .npy header".into()))?;
    let header = String::from_utf8_lossy(header);
    let field = |key: &str| -> Option<String> {
        let at = header.find(&format!("'{key}'"))? + key.len() + 2;
        let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
        let end = if rest.starts_with('(') { rest.find(')')? + 1 } else { rest.find([',', '}'])? };
        Some(rest[..end].trim().trim_matches('\'').to_owned())
    };
    let descr = field("descr").ok_or_else(|| bad("the .npy header has no descr".into()))?;
    let want = npy_descr(dtype).ok_or_else(|| {
        bad(format!("numpy has no {} dtype: write the raw little-endian bytes instead", dtype.name()))
    })?;
    let same = descr == want
        || (want.starts_with('<') && descr == want.replacen('<', "=", 1))
        || (want.starts_with('|') && descr[1..] == want[1..]);
    if !same {
        return Err(bad(format!(
            "the array's dtype is {descr} but the input is {} ({want}); convert it (e.g. a.astype(...))",
            dtype.name()
        )));
    }
    if field("fortran_order").as_deref() != Some("False") {
        return Err(bad("the array is in Fortran order; save a C-ordered array (np.ascontiguousarray)".into()));
    }
    let shape_text = field("shape").ok_or_else(|| bad("the .npy header has no shape".into()))?;
    let shape: Vec<i64> = shape_text
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .filter(|t| !t.trim().is_empty())
        .map(|t| t.trim().parse::<i64>().map_err(|_| bad(format!("bad shape {shape_text}"))))
        .collect::<Result<_, _>>()?;
    if shape != sizes {
        return Err(bad(format!("the array's shape is {shape:?} but the input is {sizes:?}")));
    }
    Ok(data[start + header_len..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(dtype: Dtype, sizes: &[i64]) -> TensorSpec {
        TensorSpec::tensor(dtype, sizes.to_vec())
    }

    fn spec(inputs: &[&str]) -> RunSpec {
        RunSpec { inputs: inputs.iter().map(|s| s.parse().unwrap()).collect(), ..RunSpec::default() }
    }

    fn bytes(b: &Built) -> &[u8] {
        match &b.fed {
            Fed::Tensor { bytes, .. } => bytes,
            Fed::Scalar(_) => &[],
        }
    }

    #[test]
    fn defaults_are_ids_for_integers_and_random_for_floats() {
        let built =
            build_all(&spec(&[]), "forward", &[tensor(Dtype::Int64, &[1, 4]), tensor(Dtype::Float32, &[2])], None)
                .unwrap();
        assert_eq!(built[0].record.spec, InputSpec::Ids);
        assert_eq!(built[0].ids.as_deref(), Some(&[2, 33, 64, 95][..]));
        assert_eq!(built[1].record.spec, InputSpec::Random { seed: 0 });
        let first = f32::from_le_bytes(bytes(&built[1])[..4].try_into().unwrap());
        // SplitMix64(0)'s first output 0xE220A8397B1DCDAF: top 24 bits 0xE220A8 → 2·(0xE220A8/2^24) − 1.
        assert_eq!(first, (2.0 * (0xE220A8 as f64 / 16777216.0) - 1.0) as f32);
    }

    #[test]
    fn random_is_the_same_bytes_every_time_and_differs_by_seed() {
        let t = [tensor(Dtype::Bfloat16, &[1, 3, 8, 8])];
        let a = build_all(&spec(&["random:7"]), "forward", &t, None).unwrap();
        let b = build_all(&spec(&["random:7"]), "forward", &t, None).unwrap();
        let c = build_all(&spec(&["random:8"]), "forward", &t, None).unwrap();
        assert_eq!(a[0].record.sha256, b[0].record.sha256);
        assert_ne!(a[0].record.sha256, c[0].record.sha256);
        assert_eq!(bytes(&a[0]).len(), 3 * 64 * 2);
    }

    #[test]
    fn an_input_index_the_method_lacks_is_refused() {
        let err = build_all(&spec(&["ids", "zeros"]), "forward", &[tensor(Dtype::Int64, &[1, 4])], None).unwrap_err();
        assert!(err.contains("index 1") && err.contains("takes 1 input") && err.contains("int64[1, 4]"), "{err}");
    }

    #[test]
    fn raw_file_of_the_wrong_byte_count_names_the_file_and_the_size() {
        let dir = std::env::temp_dir().join(format!("etbench-inputs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.bin");
        std::fs::write(&path, [0u8; 10]).unwrap();
        let s = spec(&[&format!("file:{}", path.display())]);
        let err = build_all(&s, "forward", &[tensor(Dtype::Float32, &[1, 3])], None).unwrap_err();
        assert!(err.contains("holds 10 bytes") && err.contains("needs 12"), "{err}");
        std::fs::write(&path, [0u8; 12]).unwrap();
        assert!(build_all(&s, "forward", &[tensor(Dtype::Float32, &[1, 3])], None).is_ok());
    }

    fn npy(descr: &str, shape: &str, payload: &[u8]) -> Vec<u8> {
        let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header.as_bytes());
        out.extend(payload);
        out
    }

    #[test]
    fn npy_dtype_and_shape_are_checked() {
        let dir = std::env::temp_dir().join(format!("etbench-npy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.npy");
        let inputs = [tensor(Dtype::Int64, &[1, 2])];
        let s = spec(&[&format!("file:{}", path.display())]);
        std::fs::write(&path, npy("<i8", "(1, 2)", &[7i64.to_le_bytes(), 9i64.to_le_bytes()].concat())).unwrap();
        assert_eq!(build_all(&s, "forward", &inputs, None).unwrap()[0].ids.as_deref(), Some(&[7, 9][..]));
        std::fs::write(&path, npy("<f4", "(1, 2)", &[0u8; 8])).unwrap();
        let err = build_all(&s, "forward", &inputs, None).unwrap_err();
        assert!(err.contains("dtype is <f4") && err.contains("int64"), "{err}");
        std::fs::write(&path, npy("<i8", "(2,)", &[0u8; 16])).unwrap();
        let err = build_all(&s, "forward", &inputs, None).unwrap_err();
        assert!(err.contains("shape is [2]") && err.contains("[1, 2]"), "{err}");
    }

    #[test]
    fn scalars_take_scalar_specs_only() {
        let int = TensorSpec { kind: ValueKind::Int, dtype: None, sizes: vec![] };
        let built = build_all(&spec(&["int:5"]), "forward", std::slice::from_ref(&int), None).unwrap();
        assert_eq!(built[0].fed, Fed::Scalar(Scalar::Int(5)));
        let err = build_all(&spec(&["random"]), "forward", &[int], None).unwrap_err();
        assert!(err.contains("for tensors"), "{err}");
    }

    #[test]
    fn token_ids_beyond_the_vocabulary_are_refused() {
        let err =
            build_all(&spec(&["ids:1,2,3,100"]), "forward", &[tensor(Dtype::Int64, &[1, 4])], Some(100)).unwrap_err();
        assert!(err.contains("token id 100") && err.contains("0..100"), "{err}");
    }

    #[test]
    fn default_ids_always_fit_a_small_vocabulary() {
        let built =
            build_all(&spec(&[]), "forward", &[tensor(Dtype::Int64, &[1, 32]), tensor(Dtype::Int64, &[1])], Some(64))
                .unwrap();
        let ids = built[0].ids.clone().unwrap();
        assert!(ids.iter().all(|&id| (0..64).contains(&id)), "{ids:?}");
        assert!(ids.iter().any(|&id| id > 2 + 31), "spread over the vocabulary: {ids:?}");
        let wide = build_all(&spec(&[]), "forward", &[tensor(Dtype::Int64, &[1, 32])], Some(4096)).unwrap();
        assert_eq!(wide[0].ids.clone().unwrap(), etbench_protocol::default_ids(32));
    }

    #[test]
    fn token_ids_encode_as_the_input_dtype() {
        assert_eq!(encode_ints(Dtype::Int32, &[1, 2]).unwrap(), vec![1, 0, 0, 0, 2, 0, 0, 0]);
        assert_eq!(encode_ints(Dtype::Int64, &[1]).unwrap().len(), 8);
    }

    #[test]
    fn an_unfeedable_dtype_is_named() {
        let err = build_all(&spec(&[]), "forward", &[tensor(Dtype::Other(8), &[1])], None).unwrap_err();
        assert!(err.contains("scalar_type_8") && err.contains("cannot be fed"), "{err}");
    }
}
