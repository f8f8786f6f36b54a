//! Output checks: shape, dtype, NaN/Inf counts, the argmax of the last position and an f64 sum, computed from the
//! raw bytes of an output tensor after the timed loop (never inside it).

use etbench_protocol::{Dtype, OutputCheck, TensorSpec};

/// Decodes raw little-endian elements to f64 for the dtypes a model output can have.
fn decode(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f64>> {
    fn each<const N: usize>(bytes: &[u8], f: impl Fn([u8; N]) -> f64) -> Vec<f64> {
        bytes.chunks_exact(N).map(|c| f(c.try_into().expect("chunks_exact yields N bytes"))).collect()
    }
    Some(match dtype {
        Dtype::Float32 => each(bytes, |b| f32::from_le_bytes(b) as f64),
        Dtype::Float64 => each(bytes, f64::from_le_bytes),
        Dtype::Bfloat16 => each(bytes, |b| half::bf16::from_le_bytes(b).to_f64()),
        Dtype::Float16 => each(bytes, |b| half::f16::from_le_bytes(b).to_f64()),
        Dtype::Int64 => each(bytes, |b| i64::from_le_bytes(b) as f64),
        Dtype::Int32 => each(bytes, |b| i32::from_le_bytes(b) as f64),
        Dtype::Int8 => each(bytes, |b: [u8; 1]| b[0] as i8 as f64),
        Dtype::Uint8 | Dtype::Bool => each(bytes, |b: [u8; 1]| b[0] as f64),
        Dtype::Int16 => each(bytes, |b| i16::from_le_bytes(b) as f64),
        Dtype::Other(_) => return None,
    })
}

/// Index of the largest finite value (first one on ties), as a next-token prediction.
fn argmax(values: &[f64]) -> Option<u64> {
    values
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite())
        .fold(None, |best: Option<(usize, f64)>, (i, &v)| match best {
            Some((_, b)) if b >= v => best,
            _ => Some((i, v)),
        })
        .map(|(i, _)| i as u64)
}

/// argmax of row `row` (rows are the last dimension; `None` = the last row), decoding only that row.
pub fn argmax_row(spec: &TensorSpec, bytes: &[u8], row: Option<usize>) -> Option<u64> {
    let dtype = spec.dtype?;
    let row_bytes = spec.sizes.last().copied().unwrap_or(1).max(1) as usize * dtype.element_bytes();
    let rows = bytes.len() / row_bytes;
    let row = row.unwrap_or(rows.checked_sub(1)?);
    (row < rows).then(|| argmax(&decode(dtype, &bytes[row * row_bytes..(row + 1) * row_bytes])?))?
}

/// Checks output `index`; the argmax is read at `row` (the last real position), or the last row, and only where it
/// means something: a floating output whose last dimension has more than one element (logits, class scores).
pub fn check(index: usize, spec: &TensorSpec, bytes: &[u8], row: Option<usize>) -> Option<OutputCheck> {
    let dtype = spec.dtype?;
    let values = decode(dtype, bytes)?;
    let ranked = dtype.is_float() && spec.sizes.last().is_some_and(|&n| n > 1);
    Some(OutputCheck {
        index: index as u32,
        sizes: spec.sizes.clone(),
        dtype,
        nan_count: values.iter().filter(|v| v.is_nan()).count() as u64,
        inf_count: values.iter().filter(|v| v.is_infinite()).count() as u64,
        argmax_last: if ranked { argmax_row(spec, bytes, row) } else { None },
        sum: Some(values.iter().filter(|v| v.is_finite()).sum()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(dtype: Dtype, sizes: &[i64]) -> TensorSpec {
        TensorSpec::tensor(dtype, sizes.to_vec())
    }

    #[test]
    fn argmax_is_taken_over_the_last_row_only() {
        let values: Vec<u8> = [9.0f32, 0.0, 0.0, 1.0, 3.0, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let check = check(0, &spec(Dtype::Float32, &[1, 2, 3]), &values, None).unwrap();
        assert_eq!(check.argmax_last, Some(1));
        let first = super::check(0, &spec(Dtype::Float32, &[1, 2, 3]), &values, Some(0)).unwrap();
        assert_eq!(first.argmax_last, Some(0));
        assert_eq!(argmax_row(&spec(Dtype::Float32, &[1, 2, 3]), &values, Some(2)), None);
        assert_eq!(check.sum, Some(15.0));
    }

    #[test]
    fn bf16_nan_and_inf_are_counted_and_excluded() {
        let values = [f32::NAN, f32::INFINITY, 2.0, 1.0];
        let bytes: Vec<u8> = values.iter().flat_map(|&v| half::bf16::from_f32(v).to_le_bytes()).collect();
        let check = check(1, &spec(Dtype::Bfloat16, &[1, 4]), &bytes, None).unwrap();
        assert_eq!(check.index, 1);
        assert_eq!((check.nan_count, check.inf_count), (1, 1));
        assert_eq!(check.argmax_last, Some(2));
        assert!(!check.is_finite());
    }
}

#[cfg(test)]
mod argmax_tests {
    use super::*;

    #[test]
    fn integer_outputs_and_single_values_get_no_argmax() {
        let ints: Vec<u8> = [3i64, 9, 1].iter().flat_map(|v| v.to_le_bytes()).collect();
        let c = check(0, &TensorSpec::tensor(Dtype::Int64, vec![1, 3]), &ints, None).unwrap();
        assert_eq!((c.argmax_last, c.sum), (None, Some(13.0)));
        let one = 2.5f32.to_le_bytes();
        assert_eq!(check(0, &TensorSpec::tensor(Dtype::Float32, vec![1, 1]), &one, None).unwrap().argmax_last, None);
    }
}
