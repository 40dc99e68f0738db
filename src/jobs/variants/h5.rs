//! basenji's `sad.h5` (the file `basenji_sad.py` writes), so pipelines built on basenji read
//! s2f's variant scores unchanged.
//!
//! Layout, with `N` scored alleles (rows in the order given), `T` tracks and `P` = 279
//! percentile levels; strings are fixed-length byte strings (`NULLPAD`, ASCII charset, width of
//! the longest value and at least 1), which h5py reads as numpy `S<width>` exactly as basenji's
//! `np.array(values, 'S')` wrote them:
//!
//! | dataset          | dtype        | shape    | content                                        |
//! |------------------|--------------|----------|------------------------------------------------|
//! | `snp`            | `S`          | `(N,)`   | VCF ID; `.` becomes `<chr>:<pos>` as basenji   |
//! | `chr`            | `S`          | `(N,)`   | chromosome, `chr` prefixed when missing        |
//! | `pos`            | `uint32`     | `(N,)`   | 1-based position, as in the VCF                |
//! | `ref_allele`     | `S`          | `(N,)`   | REF (see swapped rows below)                   |
//! | `alt_allele`     | `S`          | `(N,)`   | ALT                                            |
//! | `target_ids`     | `S`          | `(T,)`   | track identifiers                              |
//! | `target_labels`  | `S`          | `(T,)`   | track descriptions (empty when unknown)        |
//! | `<stat>`         | `float16`    | `(N, T)` | one per statistic, named as `--stats` names it |
//! | `percentiles`    | `float64`    | `(P,)`   | basenji's levels 0.001…0.099, 0.10…0.89, 0.900…0.999 |
//! | `<stat>_pct`     | `float16`    | `(T, P)` | per track, the statistic's percentiles (not for REF/ALT) |
//!
//! Values are clipped to float16's finite range (±65504) and rounded to nearest, as basenji's
//! `np.clip(...).astype('float16')`; NaN stays NaN. `<stat>_pct` is numpy's default (linear)
//! `np.percentile` over the float16 values of the column, as basenji's `write_pct` computes it,
//! NaN for a column holding a NaN.
//!
//! Rows marked `swapped` (scored with the genome's allele as reference, see [`super`]) are
//! written in the orientation they were scored in, as in the TSV/parquet: `ref_allele` = the
//! genome's allele, `alt_allele` = the VCF's REF, every statistic alt − ref; so the signs agree
//! with the alleles written (sad.h5 has no place for the `swapped` flag itself).
//!
//! Deviations from basenji, all where basenji cannot write the file at all or s2f has no data:
//! `REF`/`ALT` are `(N, T)` sums over the scored bins (basenji keeps a length axis there only when
//! it predicts without summing); IDs, alleles and labels that are not ASCII are stored as their
//! UTF-8 bytes (numpy's `'S'` refuses them); with no scored allele `<stat>_pct` is all NaN (numpy
//! raises on an empty percentile); s2f's `SAR`/`SADR` get datasets like any statistic.

use std::path::Path;

use hdf5_pure::{Datatype, DatatypeByteOrder, FileBuilder, FloatingPointLayout};

use super::stats::Stat;
use super::Scored;
use crate::error::{Error, Result};
use crate::io::atomic::AtomicFile;

/// The file name basenji gives its output (`<out_dir>/sad.h5`).
pub const SAD_H5: &str = "sad.h5";

/// Largest finite float16.
const F16_MAX: f64 = 65504.0;

/// Writes `scored` as basenji's `sad.h5` at `path` (see the module docs for the layout),
/// atomically: the file appears complete or not at all.
///
/// `scored[i].values` holds `stats.len() × tracks` values, statistic-major; `track_ids` and
/// `track_labels` hold `tracks` names each. Errors: [`Error::InvalidArgument`] for lengths that
/// disagree, a statistic given twice or a position past `u32::MAX`; [`Error::Io`] when the file
/// cannot be written.
pub fn write_sad_h5(
    path: &Path,
    scored: &[Scored],
    stats: &[Stat],
    track_ids: &[String],
    track_labels: &[String],
    tracks: usize,
) -> Result<()> {
    check(scored, stats, track_ids, track_labels, tracks)?;
    let hdf5 = |e: String| Error::io(path, std::io::Error::other(format!("writing HDF5: {e}")));
    let mut b = FileBuilder::new();
    let chroms: Vec<String> = scored.iter().map(|s| basenji_chrom(&s.chrom)).collect();
    let ids: Vec<String> = scored
        .iter()
        .zip(&chroms)
        .map(|(s, c)| if s.id == "." { format!("{c}:{}", s.pos) } else { s.id.clone() })
        .collect();
    let (refs, alts): (Vec<String>, Vec<String>) = scored.iter().map(|s| (s.reference.clone(), s.alt.clone())).unzip();
    let pos = scored
        .iter()
        .map(|s| {
            u32::try_from(s.pos).map_err(|_| {
                Error::InvalidArgument(format!("{}:{}: sad.h5 stores positions as uint32", s.chrom, s.pos))
            })
        })
        .collect::<Result<Vec<u32>>>()?;
    strings(&mut b, "snp", &ids).map_err(hdf5)?;
    strings(&mut b, "chr", &chroms).map_err(hdf5)?;
    b.create_dataset("pos").with_u32_data(&pos);
    strings(&mut b, "ref_allele", &refs).map_err(hdf5)?;
    strings(&mut b, "alt_allele", &alts).map_err(hdf5)?;
    strings(&mut b, "target_ids", track_ids).map_err(hdf5)?;
    strings(&mut b, "target_labels", track_labels).map_err(hdf5)?;
    let n = scored.len();
    let levels = percentile_levels();
    let mut pct = Vec::new();
    for (k, stat) in stats.iter().enumerate() {
        let mut bits = Vec::with_capacity(n * tracks);
        for s in scored {
            bits.extend(s.values[k * tracks..(k + 1) * tracks].iter().map(|&v| f16_bits(v.clamp(-F16_MAX, F16_MAX))));
        }
        if !matches!(stat, Stat::Ref | Stat::Alt) {
            let mut rows = Vec::with_capacity(tracks * levels.len());
            for t in 0..tracks {
                let column: Vec<f64> = (0..n).map(|i| f16_to_f64(bits[i * tracks + t])).collect();
                rows.extend(percentiles(column, &levels));
            }
            pct.push((format!("{}_pct", stat.name()), rows));
        }
        float16(&mut b, stat.name(), &bits, &[n as u64, tracks as u64]);
    }
    b.create_dataset("percentiles").with_f64_data(&levels);
    for (name, rows) in &pct {
        float16(&mut b, name, rows, &[tracks as u64, levels.len() as u64]);
    }
    let file = AtomicFile::create(path)?;
    b.write(file.tmp_path()).map_err(|e| hdf5(e.to_string()))?;
    file.commit()
}

/// The lengths `write_sad_h5` requires.
fn check(scored: &[Scored], stats: &[Stat], ids: &[String], labels: &[String], tracks: usize) -> Result<()> {
    let bad = |m: String| Err(Error::InvalidArgument(format!("sad.h5: {m}")));
    if ids.len() != tracks || labels.len() != tracks {
        return bad(format!("{tracks} tracks but {} identifiers and {} labels", ids.len(), labels.len()));
    }
    if let Some((i, s)) = stats.iter().enumerate().find(|(i, s)| stats[..*i].contains(s)) {
        return bad(format!("statistic {} is given twice (at {i})", s.name()));
    }
    let want = stats.len() * tracks;
    if let Some(s) = scored.iter().find(|s| s.values.len() != want) {
        return bad(format!("{} {}:{} has {} values, not {want}", s.id, s.chrom, s.pos, s.values.len()));
    }
    Ok(())
}

/// basenji's chromosome: as in the VCF when it starts with `chr`, else `chr` + name.
fn basenji_chrom(chrom: &str) -> String {
    if chrom.starts_with("chr") {
        chrom.to_string()
    } else {
        format!("chr{chrom}")
    }
}

/// A fixed-length, null-padded byte-string dataset (numpy `S<width>`).
fn strings(b: &mut FileBuilder, name: &str, values: &[String]) -> std::result::Result<(), String> {
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    b.create_dataset(name).with_ascii_strings(&refs).map(|_| ()).map_err(|e| format!("{name}: {e}"))
}

/// A little-endian IEEE half-precision dataset of `shape` from float16 bit patterns.
fn float16(b: &mut FileBuilder, name: &str, bits: &[u16], shape: &[u64]) {
    let dtype = Datatype::FloatingPoint {
        size: 2,
        byte_order: DatatypeByteOrder::LittleEndian,
        layout: FloatingPointLayout {
            bit_offset: 0,
            bit_precision: 16,
            exponent_location: 10,
            exponent_size: 5,
            mantissa_location: 0,
            mantissa_size: 10,
            exponent_bias: 15,
        },
    };
    let raw: Vec<u8> = bits.iter().flat_map(|v| v.to_le_bytes()).collect();
    b.create_dataset(name).with_raw_data(dtype, raw, bits.len() as u64).with_shape(shape);
}

/// basenji's percentile levels: `np.concatenate` of `np.arange(0.001, 0.1, 0.001)`,
/// `np.arange(0.1, 0.9, 0.01)` and `np.arange(0.9, 1, 0.001)`, with numpy's arithmetic (length
/// `ceil((stop − start)/step)`, element `i ≥ 2` = `start + i·((start + step) − start)`).
pub fn percentile_levels() -> Vec<f64> {
    let mut out = Vec::new();
    for (start, stop, step) in [(0.001f64, 0.1f64, 0.001f64), (0.1, 0.9, 0.01), (0.9, 1.0, 0.001)] {
        let n = ((stop - start) / step).ceil().max(0.0) as usize;
        let next: f64 = start + step;
        let delta = next - start;
        out.extend((0..n).map(|i| match i {
            0 => start,
            1 => next,
            _ => start + i as f64 * delta,
        }));
    }
    out
}

/// numpy's `np.percentile(column, 100 * levels)` (linear method) of float16 values (given as
/// f64), as float16 bits: the gap `b − a` is a float16 difference (numpy's float16 arithmetic),
/// the interpolation runs in f64. All NaN when the column is empty or holds a NaN.
fn percentiles(mut column: Vec<f64>, levels: &[f64]) -> Vec<u16> {
    const NAN: u16 = 0x7e00;
    if column.is_empty() || column.iter().any(|v| v.is_nan()) {
        return vec![NAN; levels.len()];
    }
    column.sort_by(f64::total_cmp);
    let last = column.len() - 1;
    levels
        .iter()
        .map(|&p| {
            let virt = last as f64 * ((100.0 * p) / 100.0);
            let (lo, hi) = if virt >= last as f64 {
                (last, last)
            } else if virt < 0.0 {
                (0, 0)
            } else {
                let lo = virt.floor() as usize;
                (lo, (lo + 1).min(last))
            };
            let gamma = virt - lo as f64;
            let (a, b) = (column[lo], column[hi]);
            let diff = f16_to_f64(f16_bits(f64::from(b as f32 - a as f32)));
            let v = if gamma >= 0.5 { b - diff * (1.0 - gamma) } else { a + diff * gamma };
            f16_bits(v)
        })
        .collect()
}

/// IEEE half-precision bits of `v`, rounded to nearest (ties to even) from the full f64, as
/// numpy's `astype('float16')`; overflow gives ±inf, NaN a quiet NaN.
pub fn f16_bits(v: f64) -> u16 {
    let b = v.to_bits();
    let sign = ((b >> 48) & 0x8000) as u16;
    let exp = ((b >> 52) & 0x7ff) as i32;
    let man = b & ((1u64 << 52) - 1);
    if exp == 0x7ff {
        return sign | if man == 0 { 0x7c00 } else { 0x7e00 };
    }
    if exp == 0 {
        return sign; // f64 subnormals are far below float16's smallest subnormal
    }
    let e = exp - 1023;
    if e > 15 {
        return sign | 0x7c00;
    }
    let m = man | (1u64 << 52);
    // Normal: the implicit bit lands on the exponent field's lowest bit, hence e + 14.
    // Subnormal: units of 2^-24.
    let (base, shift) = if e >= -14 { (((e + 14) as u64) << 10, 42u32) } else { (0, (28 - e) as u32) };
    if shift >= 64 {
        return sign;
    }
    let mut q = m >> shift;
    let rem = m & ((1u64 << shift) - 1);
    let half = 1u64 << (shift - 1);
    if rem > half || (rem == half && q & 1 == 1) {
        q += 1;
    }
    sign | (base + q).min(0x7c00) as u16
}

/// The value of float16 bits.
pub fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let man = f64::from(h & 0x3ff);
    sign * match exp {
        0 => man * 2f64.powi(-24),
        31 if man == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        _ => (1.0 + man / 1024.0) * 2f64.powi(exp - 15),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, chrom: &str, swapped: bool, values: Vec<f64>) -> Scored {
        let (reference, alt) = (if swapped { "G" } else { "A" }.into(), if swapped { "A" } else { "G" }.into());
        Scored { id: id.into(), chrom: chrom.into(), pos: 7, reference, alt, swapped, values }
    }

    #[test]
    fn float16_rounds_to_nearest_even() {
        for (v, h) in [(1.0, 0x3c00), (-2.0, 0xc000), (0.1, 0x2e66), (65504.0, 0x7bff), (65519.0, 0x7bff)] {
            assert_eq!(f16_bits(v), h, "{v}");
        }
        assert_eq!(f16_bits(65520.0), 0x7c00); // the tie rounds to even: inf
        assert_eq!(f16_bits(2f64.powi(-24)), 1);
        assert_eq!(f16_bits(2f64.powi(-25)), 0);
        assert_eq!(f16_bits(3.0 * 2f64.powi(-25)), 2);
        assert_eq!(f16_bits(1e-300), 0);
        assert_eq!(f16_bits(f64::NAN), 0x7e00);
        for h in (0..0x7c00u16).chain(0x8000..0xfc00) {
            assert_eq!(f16_bits(f16_to_f64(h)), h, "{h:#x}");
        }
    }

    #[test]
    fn percentiles_follow_numpy_linear() {
        let levels = percentile_levels();
        assert_eq!(levels.len(), 279);
        // numpy's arange arithmetic, to the bit (checked against numpy in tests/variants_h5.rs).
        assert_eq!(
            (levels[0], levels[98], levels[99], levels[178], levels[278]),
            (0.001, 0.099, 0.1, 0.8899999999999996, 0.9990000000000001)
        );
        let got = percentiles(vec![4.0, 0.0, 2.0], &[0.25, 0.5, 0.999]);
        assert_eq!(got.iter().map(|&h| f16_to_f64(h)).collect::<Vec<_>>(), [1.0, 2.0, 3.99609375]);
        assert_eq!(percentiles(vec![1.0, f64::NAN], &[0.5]), [0x7e00]);
    }

    #[test]
    fn layout_round_trips_through_hdf5_pure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SAD_H5);
        let scored =
            vec![row("rs1", "chr1", false, vec![1.5, -1e6, 0.0, 2.0]), row(".", "2", true, vec![0.5, 7e5, 1.0, 3.0])];
        let ids = ["t0".to_string(), "t1".into()];
        let labels = ["CAGE:liver".to_string(), String::new()];
        write_sad_h5(&path, &scored, &[Stat::Sad, Stat::Ref], &ids, &labels, 2).unwrap();
        let f = hdf5_pure::File::open(&path).unwrap();
        let text = |n: &str| f.dataset(n).unwrap().read_string().unwrap();
        assert_eq!(text("snp"), ["rs1", "chr2:7"]);
        assert_eq!(text("chr"), ["chr1", "chr2"]);
        assert_eq!(
            (text("ref_allele"), text("alt_allele")),
            (vec!["A".into(), "G".into()], vec!["G".into(), "A".into()])
        );
        assert_eq!((text("target_ids"), text("target_labels")), (ids.to_vec(), labels.to_vec()));
        assert_eq!(f.dataset("pos").unwrap().read_u32().unwrap(), [7, 7]);
        let sad = f.dataset("SAD").unwrap();
        assert_eq!(sad.shape().unwrap(), [2, 2]);
        let raw = sad.read_raw().unwrap();
        let vals: Vec<f64> = raw.chunks(2).map(|c| f16_to_f64(u16::from_le_bytes([c[0], c[1]]))).collect();
        assert_eq!(vals, [1.5, -65504.0, 0.5, 65504.0]);
        assert_eq!(f.dataset("SAD_pct").unwrap().shape().unwrap(), [2, 279]);
        assert_eq!(f.dataset("percentiles").unwrap().read_f64().unwrap(), percentile_levels());
        assert!(f.dataset("REF_pct").is_err());
    }

    #[test]
    fn empty_runs_and_bad_lengths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SAD_H5);
        let one = ["t".to_string()];
        write_sad_h5(&path, &[], &[Stat::D2], &one, &one, 1).unwrap();
        let f = hdf5_pure::File::open(&path).unwrap();
        assert_eq!(f.dataset("D2").unwrap().shape().unwrap(), [0, 1]);
        assert_eq!(f.dataset("snp").unwrap().shape().unwrap(), [0]);
        let bad = |r: Result<()>| assert!(matches!(r, Err(Error::InvalidArgument(_))));
        bad(write_sad_h5(&path, &[], &[Stat::Sad], &one, &[], 1));
        bad(write_sad_h5(&path, &[], &[Stat::Sad, Stat::Sad], &one, &one, 1));
        bad(write_sad_h5(&path, &[row("a", "chr1", false, vec![1.0, 2.0])], &[Stat::Sad], &one, &one, 1));
    }
}
