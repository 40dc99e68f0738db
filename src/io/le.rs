//! Little-endian numbers from raw bytes: the one decoder for float tensors in safetensors,
//! `.npy`, PyTorch and HDF5 payloads and s2f's own part files.

/// Decodes consecutive little-endian `f32` values. A trailing partial value (fewer than 4
/// bytes) is ignored; callers check lengths where a short buffer is an error.
pub fn f32s_from_le(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// Decodes consecutive little-endian `f64` values, rounded to `f32`. A trailing partial value
/// (fewer than 8 bytes) is ignored.
pub fn f32s_from_f64_le(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(8).map(|c| f64::from_le_bytes(std::array::from_fn(|i| c[i])) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_ignores_a_partial_tail() {
        let mut b: Vec<u8> = [1.5f32, -2.0, f32::INFINITY].iter().flat_map(|x| x.to_le_bytes()).collect();
        b.push(7);
        assert_eq!(f32s_from_le(&b), [1.5, -2.0, f32::INFINITY]);
        let d: Vec<u8> = [0.1f64, -3.0].iter().flat_map(|x| x.to_le_bytes()).collect();
        assert_eq!(f32s_from_f64_le(&d), [0.1f64 as f32, -3.0]);
    }
}
