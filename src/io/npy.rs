//! NumPy `.npy` arrays and `.npz` archives (what DRG, basenji and most Python tools exchange).
//!
//! Written here rather than with `ndarray-npy` because s2f needs fixed-width unicode string
//! arrays (`<U…`, e.g. DRG's `genenames`) in the same archive as numeric arrays, and needs to
//! stream a large array into an archive without holding it in memory; both are outside what
//! that crate offers. Format: NumPy's NEP 1 (version 1.0 headers, little-endian, C order).

use std::io::{Read, Seek, Write};
use std::path::Path;

use zip::write::SimpleFileOptions;

use crate::error::{Error, Result};
use crate::io::atomic::AtomicFile;

/// Element types s2f reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    /// `|i1`
    I8,
    /// `|u1`
    U8,
    /// `<i4`
    I32,
    /// `<i8`
    I64,
    /// `<f4`
    F32,
    /// `<f8`
    F64,
    /// `<U{n}`: fixed-width UTF-32 strings of `n` characters.
    Unicode(usize),
}

impl DType {
    /// NumPy's type string.
    pub fn descr(self) -> String {
        match self {
            DType::I8 => "|i1".into(),
            DType::U8 => "|u1".into(),
            DType::I32 => "<i4".into(),
            DType::I64 => "<i8".into(),
            DType::F32 => "<f4".into(),
            DType::F64 => "<f8".into(),
            DType::Unicode(n) => format!("<U{n}"),
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::I8 | DType::U8 => 1,
            DType::I32 | DType::F32 => 4,
            DType::I64 | DType::F64 => 8,
            DType::Unicode(n) => 4 * n,
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "|i1" | "<i1" | "i1" => DType::I8,
            "|u1" | "<u1" | "u1" | "|b1" => DType::U8,
            "<i4" => DType::I32,
            "<i8" => DType::I64,
            "<f4" => DType::F32,
            "<f8" => DType::F64,
            _ => {
                // The width must leave `4 × width` (bytes per element) representable.
                let n: usize = s.strip_prefix("<U")?.parse().ok()?;
                n.checked_mul(4)?;
                DType::Unicode(n)
            }
        })
    }
}

/// The header of an `.npy` file, version 1.0, padded so the data starts on a 64-byte boundary.
pub fn header(dtype: DType, shape: &[usize]) -> Vec<u8> {
    let shape_s = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!("({})", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let dict = format!("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", dtype.descr(), shape_s);
    let unpadded = 10 + dict.len() + 1;
    let total = unpadded.div_ceil(64) * 64;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&((total - 10) as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.resize(total - 1, b' ');
    out.push(b'\n');
    out
}

/// Encodes strings as a `<U{width}` array body; `width` is the longest string in characters.
pub fn encode_strings(strings: &[String]) -> (DType, Vec<u8>) {
    let width = strings.iter().map(|s| s.chars().count()).max().unwrap_or(0).max(1);
    let mut body = Vec::with_capacity(strings.len() * width * 4);
    for s in strings {
        let n = s.chars().count();
        for c in s.chars() {
            body.extend_from_slice(&(c as u32).to_le_bytes());
        }
        body.resize(body.len() + (width - n) * 4, 0);
    }
    (DType::Unicode(width), body)
}

/// Plain-data element types that can be written as raw little-endian bytes.
pub trait Element: Copy {
    /// The matching NumPy type.
    const DTYPE: DType;
    /// Appends the element's little-endian bytes.
    fn put(self, out: &mut Vec<u8>);
}

macro_rules! element {
    ($t:ty, $d:expr) => {
        impl Element for $t {
            const DTYPE: DType = $d;
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    };
}
element!(i8, DType::I8);
element!(u8, DType::U8);
element!(i32, DType::I32);
element!(i64, DType::I64);
element!(f32, DType::F32);
element!(f64, DType::F64);

/// Little-endian bytes of a slice of elements.
pub fn to_bytes<T: Element>(data: &[T]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() * T::DTYPE.size());
    for &x in data {
        x.put(&mut out);
    }
    out
}

/// Writes an `.npz` archive (deflate-compressed members, as `numpy.savez_compressed`) under a
/// temporary name; [`NpzWriter::finish`] renames it into place.
pub struct NpzWriter {
    zip: zip::ZipWriter<std::fs::File>,
    out: Option<AtomicFile>,
    path: std::path::PathBuf,
    /// Bytes still expected for the member being streamed.
    pending: usize,
}

impl NpzWriter {
    /// Starts an archive at `path`.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let mut out = AtomicFile::create(&path)?;
        let file = out.file().try_clone().map_err(|e| Error::io(&path, e))?;
        Ok(Self { zip: zip::ZipWriter::new(file), out: Some(out), path, pending: 0 })
    }

    fn zerr(&self, e: zip::result::ZipError) -> Error {
        Error::io(&self.path, std::io::Error::other(e))
    }

    /// Starts member `name` (without `.npy`) of the given type and shape; its body must then be
    /// written in C order with [`NpzWriter::write_body`], exactly `product(shape) × size` bytes.
    pub fn start_array(&mut self, name: &str, dtype: DType, shape: &[usize]) -> Result<()> {
        if self.pending != 0 {
            return Err(Error::InvalidArgument(format!("npz member before {name} is incomplete")));
        }
        let opts = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(1))
            .large_file(true);
        self.zip.start_file(format!("{name}.npy"), opts).map_err(|e| self.zerr(e))?;
        let h = header(dtype, shape);
        self.zip.write_all(&h).map_err(|e| Error::io(&self.path, e))?;
        self.pending = shape.iter().product::<usize>() * dtype.size();
        Ok(())
    }

    /// Writes the next bytes of the current member's body.
    pub fn write_body(&mut self, bytes: &[u8]) -> Result<()> {
        if bytes.len() > self.pending {
            return Err(Error::InvalidArgument("more npz data than the declared shape holds".into()));
        }
        self.zip.write_all(bytes).map_err(|e| Error::io(&self.path, e))?;
        self.pending -= bytes.len();
        Ok(())
    }

    /// Adds a whole numeric array.
    pub fn add<T: Element>(&mut self, name: &str, shape: &[usize], data: &[T]) -> Result<()> {
        if shape.iter().product::<usize>() != data.len() {
            return Err(Error::InvalidArgument(format!("{name}: shape {shape:?} does not hold {} values", data.len())));
        }
        self.start_array(name, T::DTYPE, shape)?;
        self.write_body(&to_bytes(data))
    }

    /// Adds a 1-D array of strings (`<U…`).
    pub fn add_strings(&mut self, name: &str, strings: &[String]) -> Result<()> {
        let (dtype, body) = encode_strings(strings);
        self.start_array(name, dtype, &[strings.len()])?;
        self.write_body(&body)
    }

    /// Completes the archive and renames it into place.
    pub fn finish(mut self) -> Result<()> {
        if self.pending != 0 {
            return Err(Error::InvalidArgument("last npz member is incomplete".into()));
        }
        self.zip.finish().map_err(|e| Error::io(&self.path, std::io::Error::other(e)))?;
        match self.out.take() {
            Some(out) => out.commit(),
            None => Ok(()),
        }
    }
}

/// An array read from `.npy` / `.npz`.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// Element type.
    pub dtype: DType,
    /// Shape, C order.
    pub shape: Vec<usize>,
    /// Raw little-endian body.
    pub data: Vec<u8>,
}

impl NpyArray {
    /// Parses a whole `.npy` byte stream; `what` names it in errors.
    pub fn parse(bytes: &[u8], what: &Path) -> Result<Self> {
        let bad = |m: &str| Error::malformed(what, "npy header", m.to_string());
        if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
            return Err(bad("not a NumPy .npy array (bad magic)"));
        }
        let (hlen, start) = match bytes[6] {
            1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
            2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
            _ => return Err(bad("unsupported .npy version")),
        };
        let dict = bytes.get(start..start + hlen).ok_or_else(|| bad("truncated header"))?;
        let dict = std::str::from_utf8(dict).map_err(|_| bad("header is not text"))?;
        let field = |key: &str| -> Option<&str> {
            let i = dict.find(&format!("'{key}'"))? + key.len() + 2;
            Some(dict[i..].trim_start().strip_prefix(':')?.trim_start())
        };
        let descr = field("descr").and_then(|s| s.strip_prefix('\'')).and_then(|s| s.split('\'').next());
        let dtype = descr.and_then(DType::parse).ok_or_else(|| bad(&format!("unsupported dtype in {dict}")))?;
        if field("fortran_order").is_some_and(|s| s.starts_with("True")) {
            return Err(bad("Fortran-order arrays are not supported; save with C order"));
        }
        let shape_s = field("shape").and_then(|s| s.strip_prefix('(')).and_then(|s| s.split(')').next());
        let shape_s = shape_s.ok_or_else(|| bad("no shape"))?;
        let shape = shape_s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<usize>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|_| bad("bad shape"))?;
        // Element count and byte size must be representable (checked over the non-zero
        // dimensions, so that no later product over the shape can overflow either).
        let too_big = || bad(&format!("shape {shape:?} of {} holds more bytes than any file", dtype.descr()));
        let elements = shape.iter().filter(|&&d| d != 0).try_fold(1usize, |acc, &d| acc.checked_mul(d));
        let bytes_nonzero = elements.and_then(|e| e.checked_mul(dtype.size())).ok_or_else(too_big)?;
        let n = if shape.contains(&0) { 0 } else { bytes_nonzero };
        let body = &bytes[start + hlen..];
        if body.len() < n {
            return Err(bad(&format!("truncated: {} data bytes, shape {shape:?} needs {n}", body.len())));
        }
        Ok(Self { dtype, shape, data: body[..n].to_vec() })
    }

    /// The body as `f32`, converting from any numeric type.
    pub fn to_f32(&self) -> Option<Vec<f32>> {
        let d = &self.data;
        Some(match self.dtype {
            DType::I8 => d.iter().map(|&b| b as i8 as f32).collect(),
            DType::U8 => d.iter().map(|&b| b as f32).collect(),
            DType::I32 => d.chunks_exact(4).map(|c| i32::from_le_bytes(std::array::from_fn(|i| c[i])) as f32).collect(),
            DType::I64 => d.chunks_exact(8).map(|c| i64::from_le_bytes(std::array::from_fn(|i| c[i])) as f32).collect(),
            DType::F32 => crate::io::le::f32s_from_le(d),
            DType::F64 => crate::io::le::f32s_from_f64_le(d),
            DType::Unicode(_) => return None,
        })
    }

    /// The body as strings, for `<U…` arrays (trailing NULs stripped).
    pub fn to_strings(&self) -> Option<Vec<String>> {
        let DType::Unicode(n) = self.dtype else { return None };
        Some(
            self.data
                .chunks_exact(4 * n.max(1))
                .map(|c| {
                    c.chunks_exact(4)
                        .map(|u| u32::from_le_bytes(std::array::from_fn(|i| u[i])))
                        .take_while(|&u| u != 0)
                        .filter_map(char::from_u32)
                        .collect()
                })
                .collect(),
        )
    }
}

/// Writes a numeric `.npy` file atomically.
pub fn write_npy<T: Element>(path: impl AsRef<Path>, shape: &[usize], data: &[T]) -> Result<()> {
    let path = path.as_ref();
    if shape.iter().product::<usize>() != data.len() {
        return Err(Error::InvalidArgument(format!("shape {shape:?} does not hold {} values", data.len())));
    }
    let head = header(T::DTYPE, shape);
    let body = to_bytes(data);
    crate::io::atomic::write_atomic(path, |w| {
        w.write_all(&head)?;
        w.write_all(&body)
    })
}

/// Reads an `.npy` file.
pub fn read_npy(path: impl AsRef<Path>) -> Result<NpyArray> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    NpyArray::parse(&bytes, path)
}

/// Reads every member of an `.npz` archive, in archive order, as `(name, array)`.
pub fn read_npz(path: impl AsRef<Path>) -> Result<Vec<(String, NpyArray)>> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    read_npz_from(file, path)
}

fn read_npz_from<R: Read + Seek>(reader: R, path: &Path) -> Result<Vec<(String, NpyArray)>> {
    let zerr = |e: zip::result::ZipError| Error::malformed(path, "archive", format!("not a readable .npz: {e}"));
    let mut zip = zip::ZipArchive::new(reader).map_err(zerr)?;
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let mut member = zip.by_index(i).map_err(zerr)?;
        let name = member.name().trim_end_matches(".npy").to_string();
        let mut bytes = Vec::new();
        member.read_to_end(&mut bytes).map_err(|e| Error::io(path, e))?;
        let arr = NpyArray::parse(&bytes, &path.join(&name))?;
        out.push((name, arr));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_aligned_and_parsable() {
        let h = header(DType::I8, &[3, 5, 4]);
        assert_eq!(h.len() % 64, 0);
        assert_eq!(*h.last().unwrap(), b'\n');
        let text = std::str::from_utf8(&h[10..]).unwrap();
        assert!(text.contains("'shape': (3, 5, 4)"), "{text}");
        let h1 = header(DType::F32, &[7]);
        assert!(std::str::from_utf8(&h1[10..]).unwrap().contains("(7,)"));
    }

    #[test]
    fn npz_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npz");
        let mut w = NpzWriter::create(&p).unwrap();
        w.add("x", &[2, 3], &[1i8, -2, 3, 4, 5, 6]).unwrap();
        w.add("f", &[2], &[0.25f32, -1.5]).unwrap();
        w.add_strings("names", &["chr1:0-10".to_string(), "é".to_string()]).unwrap();
        w.finish().unwrap();
        let arrays = read_npz(&p).unwrap();
        let names: Vec<&str> = arrays.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["x", "f", "names"]);
        assert_eq!(arrays[0].1.shape, [2, 3]);
        assert_eq!(arrays[0].1.to_f32().unwrap(), [1.0, -2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(arrays[1].1.to_f32().unwrap(), [0.25, -1.5]);
        assert_eq!(arrays[2].1.dtype, DType::Unicode(9));
        assert_eq!(arrays[2].1.to_strings().unwrap(), ["chr1:0-10", "é"]);
    }

    #[test]
    fn rejects_overflowing_shapes_and_widths() {
        let npy = |dict: &str| {
            let mut b = b"\x93NUMPY\x01\x00".to_vec();
            b.extend_from_slice(&(dict.len() as u16).to_le_bytes());
            b.extend_from_slice(dict.as_bytes());
            b
        };
        let e = NpyArray::parse(
            &npy("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4), }"),
            Path::new("x.npy"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("x.npy") && e.contains("more bytes than any file"), "{e}");
        let e = NpyArray::parse(
            &npy("{'descr': '<U18446744073709551615', 'fortran_order': False, 'shape': (1,), }"),
            Path::new("x.npy"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("unsupported dtype"), "{e}");
        // Zero-width strings or a zero dimension make the body empty, but the other dimensions
        // must still multiply without overflow.
        for dict in [
            "{'descr': '<U0', 'fortran_order': False, 'shape': (9007199254740992, 4294967295), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 9007199254740992, 4294967295), }",
        ] {
            let e = NpyArray::parse(&npy(dict), Path::new("x.npy")).unwrap_err().to_string();
            assert!(e.contains("more bytes than any file"), "{e}");
        }
        let a =
            NpyArray::parse(&npy("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 7), }"), Path::new("x.npy"))
                .unwrap();
        assert_eq!((a.shape.as_slice(), a.data.len()), (&[0, 7][..], 0));
    }

    #[test]
    fn rejects_garbage() {
        assert!(NpyArray::parse(b"hello world", Path::new("x.npy")).is_err());
        let mut h = header(DType::F32, &[4]);
        h.extend_from_slice(&[0u8; 8]);
        let e = NpyArray::parse(&h, Path::new("x.npy")).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
    }
}
