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
        let st = deserialize(bytes, path)?;
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

    /// Parses a package's `model.safetensors`: like [`Weights::from_safetensors`], but every
    /// tensor must already be float32 (packages store float32; other dtypes are converted only
    /// explicitly, by `s2f package --weights`).
    pub fn from_package_safetensors(bytes: &[u8], path: &Path) -> Result<Self> {
        let st = deserialize(bytes, path)?;
        for (name, view) in st.tensors() {
            if view.dtype() != safetensors::Dtype::F32 {
                return Err(Error::malformed(
                    path,
                    format!("tensor {name}"),
                    format!(
                        "stored as {:?}, but packages hold float32; convert explicitly with \
                         `s2f package model.json --weights {} --out NEW_DIR`",
                        view.dtype(),
                        path.display()
                    ),
                ));
            }
        }
        Self::from_safetensors(bytes, path)
    }

    /// Fails, naming the tensor and the first position, if any value is NaN or infinite.
    pub fn check_finite(&self, path: &Path) -> Result<()> {
        for (name, t) in &self.tensors {
            if let Some(i) = t.data.iter().position(|v| !v.is_finite()) {
                return Err(Error::malformed(
                    path,
                    format!("tensor {name}"),
                    format!("value {} (flat index {i} of shape {:?}) is not finite", t.data[i], t.shape),
                ));
            }
        }
        Ok(())
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

/// safetensors' parser, with errors about data offsets naming the tensor at fault (the
/// library's own messages often name none).
fn deserialize<'a>(bytes: &'a [u8], path: &Path) -> Result<safetensors::SafeTensors<'a>> {
    safetensors::SafeTensors::deserialize(bytes).map_err(|e| match offset_problem(bytes) {
        Some((name, why)) => {
            Error::malformed(path, format!("tensor {name}"), format!("not a safetensors file: {e}: {why}"))
        }
        None => Error::malformed(path, "header", format!("not a safetensors file: {e}")),
    })
}

/// The first tensor whose `data_offsets` do not fit the data: not where the previous tensor
/// ends, ends before it starts, holds other than shape × dtype bytes, or (for the last) does
/// not end where the data ends. `None` when the header cannot be read or the offsets are fine.
fn offset_problem(bytes: &[u8]) -> Option<(String, String)> {
    let n = usize::try_from(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?)).ok()?;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(bytes.get(8..8usize.checked_add(n)?)?).ok()?;
    let data_len = (bytes.len() - 8 - n) as u64;
    let mut tensors: Vec<(String, u64, u64, Option<u64>)> = Vec::new();
    for (name, v) in header.iter().filter(|(k, _)| *k != "__metadata__") {
        let offsets = v.get("data_offsets")?.as_array()?;
        let (b, e) = (offsets.first()?.as_u64()?, offsets.get(1)?.as_u64()?);
        let bits: Option<u64> = match v.get("dtype")?.as_str()? {
            "F64" | "I64" | "U64" => Some(64),
            "F32" | "I32" | "U32" => Some(32),
            "F16" | "BF16" | "I16" | "U16" => Some(16),
            "I8" | "U8" | "BOOL" | "F8_E4M3" | "F8_E5M2" => Some(8),
            _ => None,
        };
        let size = v
            .get("shape")?
            .as_array()?
            .iter()
            .try_fold(bits, |acc, d| Some(acc.and_then(|a| a.checked_mul(d.as_u64()?))))?
            .map(|b| b / 8);
        tensors.push((name.clone(), b, e, size));
    }
    tensors.sort_by_key(|t| (t.1, t.2));
    let mut at = 0;
    for (name, b, e, size) in &tensors {
        let why = if *b != at {
            format!("its data_offsets [{b}, {e}] should start at byte {at}, where the previous tensor ends")
        } else if e < b {
            format!("its data_offsets [{b}, {e}] end before they start")
        } else if size.is_some_and(|s| s != e - b) {
            format!(
                "its data_offsets [{b}, {e}] hold {} bytes, but its shape and dtype need {}",
                e - b,
                size.unwrap_or(0)
            )
        } else if *e > data_len {
            format!("its data_offsets [{b}, {e}] reach past the {data_len} data bytes of the file")
        } else {
            at = *e;
            continue;
        };
        return Some((name.clone(), why));
    }
    match tensors.last() {
        Some((name, _, e, _)) if *e != data_len => {
            Some((name.clone(), format!("the last tensor ends at byte {e}, but the file has {data_len} data bytes")))
        }
        _ => None,
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
    fn offset_errors_name_the_tensor() {
        let mut w = Weights::default();
        w.insert("a.weight", Tensor::new(vec![2, 3], vec![1., 2., 3., 4., 5., 6.]).unwrap());
        w.insert("b.bias", Tensor::new(vec![2], vec![-1., 0.5]).unwrap());
        let good = w.to_safetensors().unwrap();
        let n = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
        let header = std::str::from_utf8(&good[8..8 + n]).unwrap().to_string();
        let with_header = |h: &str| {
            let mut b = (h.len() as u64).to_le_bytes().to_vec();
            b.extend_from_slice(h.as_bytes());
            b.extend_from_slice(&good[8 + n..]);
            b
        };
        let err = |bytes: &[u8]| Weights::from_safetensors(bytes, Path::new("w.safetensors")).unwrap_err().to_string();
        // b.bias's 8 bytes claimed as 12: the sizes no longer match its shape.
        assert!(header.contains("[24,32]"), "{header}");
        let e = err(&with_header(&header.replace("[24,32]", "[24,36]")));
        assert!(e.contains("w.safetensors") && e.contains("tensor b.bias") && e.contains("[24, 36]"), "{e}");
        // A gap before a.weight.
        let e = err(&with_header(&header.replace("[0,24]", "[4,24]")));
        assert!(e.contains("tensor a.weight") && e.contains("should start at byte 0"), "{e}");
        // Data left over after the last tensor.
        let mut extra = good.clone();
        extra.extend_from_slice(&[0; 4]);
        let e = err(&extra);
        assert!(e.contains("tensor b.bias") && e.contains("36 data bytes"), "{e}");
    }

    #[test]
    fn half_precision() {
        assert_eq!(half_to_f32(0x3c00), 1.0);
        assert_eq!(half_to_f32(0xc000), -2.0);
        assert_eq!(half_to_f32(0x3555), 0.333_251_95);
        assert_eq!(half_to_f32(0x0001), 5.960_464_5e-8);
    }
}
