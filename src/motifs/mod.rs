//! Motifs: MEME motif files and Tomtom-style motif comparison.
//!
//! - [`meme`]: read (strictly validated) and write MEME version 4 text files of DNA
//!   letter-probability matrices ([`Motif`]).
//! - [`tomtom`]: compare query motifs against a database as MEME's Tomtom does (Gupta et al.
//!   2007): column similarity scores, every offset and both strands, p-values from each query
//!   column's null distribution against all database columns, E-values and Benjamini–Hochberg
//!   q-values ([`compare`]).
//!
//! A motif database ships with the project: `motifs/JASPAR2026_CORE_vertebrates.meme` (CC BY 4.0).

pub mod meme;
pub mod tomtom;

pub use meme::{parse_meme, read_meme, write_meme, Motif};
pub use tomtom::{compare, CompareOptions, Distance, Match, Orientation, MAX_QUERY_WIDTH};

use std::io::Write;

/// Writes matches as Tomtom's `-text` table: a header `Query_ID Target_ID Optimal_offset p-value
/// E-value q-value Overlap Query_consensus Target_consensus Orientation` (tab-separated) and one
/// row per match. Consensus strings are of the motifs as given (the target's forward strand).
pub fn write_table<W: Write>(
    w: &mut W,
    matches: &[Match],
    queries: &[Motif],
    targets: &[Motif],
) -> std::io::Result<()> {
    writeln!(
        w,
        "Query_ID\tTarget_ID\tOptimal_offset\tp-value\tE-value\tq-value\tOverlap\tQuery_consensus\tTarget_consensus\tOrientation"
    )?;
    for m in matches {
        let (q, t) = (&queries[m.query], &targets[m.target]);
        writeln!(
            w,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            q.id,
            t.id,
            m.offset,
            fmt_g(m.p_value),
            fmt_g(m.e_value),
            fmt_g(m.q_value),
            m.overlap,
            q.consensus(),
            t.consensus(),
            m.orientation.symbol()
        )?;
    }
    Ok(())
}

/// A number as C's `%g` writes it (six significant digits), e.g. `3.77838e-08`, `0.0123`.
fn fmt_g(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let exp = x.abs().log10().floor() as i32;
    if (-4..6).contains(&exp) {
        let s = format!("{:.*}", (5 - exp).max(0) as usize, x);
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        let s = format!("{x:.5e}");
        let (mant, e) = s.split_once('e').unwrap_or((&s, "0"));
        let mant = if mant.contains('.') { mant.trim_end_matches('0').trim_end_matches('.') } else { mant };
        let e: i32 = e.parse().unwrap_or(0);
        format!("{mant}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g_format() {
        assert_eq!(fmt_g(3.778381e-8), "3.77838e-08");
        assert_eq!(fmt_g(0.0123), "0.0123");
        assert_eq!(fmt_g(1.0), "1");
        assert_eq!(fmt_g(1019.0), "1019");
        assert_eq!(fmt_g(2.5e7), "2.5e+07");
    }
}
