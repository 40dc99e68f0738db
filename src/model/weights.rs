//! Model weights: named float32 tensors, stored as safetensors.
//!
//! Names and shapes follow [`crate::model::spec`]; [`Weights::check`] compares a set of
//! weights with what a spec expects and reports every missing, extra or misshaped tensor at
//! once.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::io::le::{f32s_from_f64_le, f32s_from_le};
use crate::model::spec::WeightSlot;

/// One tensor: shape (C order) and float32 values.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Shape.
    pub shape: Vec<usize>,
    /// Values, C order.
    pub data: Vec<f32>,
}

impl Tensor {
    /// A tensor; `data.len()` must equal the product of `shape`.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Result<Self> {
        if shape.iter().product::<usize>() != data.len() {
            return Err(Error::InvalidArgument(format!("tensor shape {shape:?} does not hold {} values", data.len())));
        }
        Ok(Self { shape, data })
    }
}

/// Named tensors, sorted by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Weights {
    /// The tensors.
    pub tensors: BTreeMap<String, Tensor>,
}

impl Weights {
    /// Adds or replaces a tensor.
    pub fn insert(&mut self, name: impl Into<String>, t: Tensor) {
        self.tensors.insert(name.into(), t);
    }

    /// The tensor `name`.
    pub fn get(&self, name: &str) -> Result<&Tensor> {
        self.tensors.get(name).ok_or_else(|| Error::Spec(format!("missing weight tensor {name:?}")))
    }

    /// Number of values over all tensors.
    pub fn len_values(&self) -> usize {
        self.tensors.values().map(|t| t.data.len()).sum()
    }

    /// Compares with the slots a spec expects; `path` names the weights in the error.
    pub fn check(&self, slots: &[WeightSlot], path: &Path) -> Result<()> {
        let mut problems = Vec::new();
        for s in slots {
            match self.tensors.get(&s.name) {
                None => problems.push(format!("missing tensor {} (expected shape {:?})", s.name, s.shape)),
                Some(t) if t.shape != s.shape => {
                    problems.push(format!("tensor {}: expected shape {:?}, found {:?}", s.name, s.shape, t.shape))
                }
                Some(_) => {}
            }
        }
        for name in self.tensors.keys() {
            if !slots.iter().any(|s| &s.name == name) {
                problems.push(format!("unexpected tensor {name} (the spec has no such weight)"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Weights { path: path.into(), problems })
        }
    }

    /// Serialises to safetensors bytes (float32, little-endian).
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = self
            .tensors
            .iter()
            .map(|(n, t)| (n.clone(), t.shape.clone(), t.data.iter().flat_map(|v| v.to_le_bytes()).collect()))
            .collect();
        let views = bytes
            .iter()
            .map(|(n, shape, b)| {
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), b).map(|v| (n.clone(), v))
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::Spec(format!("cannot serialise weights: {e}")))?;
        safetensors::serialize(views, None).map_err(|e| Error::Spec(format!("cannot serialise weights: {e}")))
    }

    /// Writes a safetensors file, converting one tensor at a time (no copy of the whole set).
    pub fn write_safetensors(&self, path: &Path) -> Result<()> {
        let views = self.tensors.iter().map(|(n, t)| (n.clone(), F32View(t)));
        safetensors::serialize_to_file(views, None, path)
            .map_err(|e| Error::io(path, std::io::Error::other(format!("cannot write safetensors: {e}"))))
    }

    /// Parses safetensors bytes; float32 tensors only (f16/bf16/f64 are converted).
    pub fn from_safetensors(bytes: &[u8], path: &Path) -> Result<Self> {
        let st = safetensors::SafeTensors::deserialize(bytes)
            .map_err(|e| Error::malformed(path, "header", format!("not a safetensors file: {e}")))?;
        let mut w = Weights::default();
        for (name, view) in st.tensors() {
            let d = view.data();
            let data: Vec<f32> = match view.dtype() {
                safetensors::Dtype::F32 => f32s_from_le(d),
                safetensors::Dtype::F64 => f32s_from_f64_le(d),
                safetensors::Dtype::F16 => {
                    d.chunks_exact(2).map(|c| half_to_f32(u16::from_le_bytes([c[0], c[1]]))).collect()
                }
                safetensors::Dtype::BF16 => {
                    d.chunks_exact(2).map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16)).collect()
                }
                other => {
                    return Err(Error::malformed(
                        path,
                        format!("tensor {name}"),
                        format!("dtype {other:?} is not a float type"),
                    ))
                }
            };
            w.insert(name, Tensor { shape: view.shape().to_vec(), data });
        }
        Ok(w)
    }

    /// Reads a safetensors file.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_safetensors(&bytes, path)
    }

    /// Random weights for a spec (seeded; for tests and benchmarks): convolution and linear
    /// weights uniform in ±√(3/fan_in), biases and BN shifts small, BN scales and variances
    /// near 1.
    pub fn random(slots: &[WeightSlot], seed: u64) -> Self {
        let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut w = Weights::default();
        for s in slots {
            let n: usize = s.shape.iter().product();
            let fan_in: usize = s.shape.iter().skip(1).product::<usize>().max(1);
            let a = (3.0 / fan_in as f64).sqrt();
            let param = s.name.rsplit('.').next().unwrap_or("");
            let data = (0..n)
                .map(|_| {
                    let u = next();
                    (match param {
                        "weight" => (2.0 * u - 1.0) * a,
                        "gamma" | "var" => 0.5 + u,
                        _ => (2.0 * u - 1.0) * 0.1,
                    }) as f32
                })
                .collect();
            w.insert(s.name.clone(), Tensor { shape: s.shape.clone(), data });
        }
        w
    }
}

/// A float32 tensor seen by safetensors' writer; bytes are produced when written.
struct F32View<'a>(&'a Tensor);

impl safetensors::View for F32View<'_> {
    fn dtype(&self) -> safetensors::Dtype {
        safetensors::Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.0.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Owned(self.0.data.iter().flat_map(|v| v.to_le_bytes()).collect())
    }
    fn data_len(&self) -> usize {
        self.0.data.len() * 4
    }
}

/// IEEE half to single precision.
fn half_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // Subnormal: normalise.
            let mut e = 127 - 15 + 1;
            let mut f = f;
            while f & 0x400 == 0 {
                f <<= 1;
                e -= 1;
            }
            sign | (e << 23) | ((f & 0x3ff) << 13)
        }
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 127 - 15) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safetensors_round_trip_and_check() {
        let mut w = Weights::default();
        w.insert("a.weight", Tensor::new(vec![2, 3], vec![1., 2., 3., 4., 5., 6.]).unwrap());
        w.insert("a.bias", Tensor::new(vec![2], vec![-1., 0.5]).unwrap());
        let bytes = w.to_safetensors().unwrap();
        let back = Weights::from_safetensors(&bytes, Path::new("w")).unwrap();
        assert_eq!(back, w);
        let slots = vec![
            WeightSlot { name: "a.weight".into(), shape: vec![2, 4] },
            WeightSlot { name: "b.weight".into(), shape: vec![1] },
        ];
        let e = back.check(&slots, Path::new("w.safetensors")).unwrap_err().to_string();
        assert!(e.contains("a.weight: expected shape [2, 4], found [2, 3]"), "{e}");
        assert!(e.contains("missing tensor b.weight"), "{e}");
        assert!(e.contains("unexpected tensor a.bias"), "{e}");
        assert!(Weights::from_safetensors(b"garbage!", Path::new("w")).is_err());
    }

    #[test]
    fn half_precision() {
        assert_eq!(half_to_f32(0x3c00), 1.0);
        assert_eq!(half_to_f32(0xc000), -2.0);
        assert_eq!(half_to_f32(0x3555), 0.333_251_95);
        assert_eq!(half_to_f32(0x0001), 5.960_464_5e-8);
    }
}
