//! Database matches and the files of `s2f seqlets`.

use std::io::Write;
use std::path::Path;

use super::{Analysis, Cluster};
use crate::error::{Error, Result};
use crate::motifs::meme::{read_meme, write_meme};
use crate::motifs::tomtom::{compare, CompareOptions, MAX_QUERY_WIDTH};

/// A cluster's best match in a motif database (Tomtom-style comparison of its PWM).
#[derive(Debug, Clone, PartialEq)]
pub struct DbMatch {
    /// The database motif's identifier.
    pub id: String,
    /// Its alternative name (often the factor), if any.
    pub name: Option<String>,
    /// P-value of the optimal alignment.
    pub p_value: f64,
    /// Benjamini–Hochberg q-value among the cluster's matches.
    pub q_value: f64,
}

/// Each cluster's best match in the MEME file `db` ([`compare`] with its defaults, `thresh` 1.0,
/// `top` 1); `None` for a cluster wider than [`MAX_QUERY_WIDTH`] columns.
pub fn best_matches(clusters: &[Cluster], db: &Path) -> Result<Vec<Option<DbMatch>>> {
    let targets = read_meme(db)?;
    let which: Vec<usize> = (0..clusters.len()).filter(|&c| clusters[c].pwm.len() <= MAX_QUERY_WIDTH).collect();
    let queries: Vec<_> = which.iter().map(|&c| clusters[c].motif()).collect();
    let mut out = vec![None; clusters.len()];
    if queries.is_empty() {
        return Ok(out);
    }
    let opts = CompareOptions { thresh: 1.0, top: Some(1), ..Default::default() };
    for m in compare(&queries, &targets, &opts)? {
        let t = &targets[m.target];
        let slot = &mut out[which[m.query]];
        if slot.is_none() {
            *slot = Some(DbMatch { id: t.id.clone(), name: t.alt.clone(), p_value: m.p_value, q_value: m.q_value });
        }
    }
    Ok(out)
}

/// Base frequencies of the one-hot input (uniform when it has no bases).
fn background(a: &Analysis) -> [f64; 4] {
    let mut f = [0.0f64; 4];
    for row in a.set.onehot.rows() {
        for (b, v) in row.iter().enumerate().take(4) {
            if v.is_finite() && *v > 0.0 {
                f[b] += *v as f64;
            }
        }
    }
    let s: f64 = f.iter().sum();
    if s > 0.0 {
        f.map(|v| v / s)
    } else {
        [0.25; 4]
    }
}

/// Writes the outputs of an analysis into `out` (created if needed), each atomically:
///
/// - `clusters.meme`: each cluster's PWM (MEME 4, `MOTIF <id> <consensus>`, `nsites` = seqlets,
///   background = base frequencies of the input); only the header when there are no clusters.
/// - `clusters.tsv`: `id sign n_seqlets n_sequences tracks width consensus match_id match_name
///   match_p match_q` (match columns empty without a database).
/// - `seqlets.tsv`: `sequence track start end sign score cluster strand`: 0-based half-open
///   positions within the sequence, score = Σ attribution, the cluster id (empty when
///   unclustered) and the strand of the seqlet relative to the cluster's motif.
/// - with `logos`, `logos/<id>.png`: the cluster's CWM and its PWM in bits.
pub fn write_outputs(out: &Path, a: &Analysis, logos: bool) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let motifs: Vec<_> = a.clusters.iter().map(Cluster::motif).collect();
    write_meme(&out.join("clusters.meme"), &motifs, background(a))?;
    crate::io::atomic::write_atomic(out.join("clusters.tsv"), |w| {
        writeln!(
            w,
            "id\tsign\tn_seqlets\tn_sequences\ttracks\twidth\tconsensus\tmatch_id\tmatch_name\tmatch_p\tmatch_q"
        )?;
        for (k, (c, m)) in a.clusters.iter().zip(&motifs).enumerate() {
            let tracks: Vec<&str> = c.maps.iter().map(|&t| a.set.tracks[t].as_str()).collect();
            write!(
                w,
                "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                c.id,
                c.sign.symbol(),
                c.members.len(),
                c.n_sequences,
                tracks.join(","),
                c.pwm.len(),
                m.alt.as_deref().unwrap_or("")
            )?;
            match a.matches.get(k) {
                Some(Some(d)) => writeln!(
                    w,
                    "\t{}\t{}\t{:.3e}\t{:.3e}",
                    d.id,
                    d.name.as_deref().unwrap_or(""),
                    d.p_value,
                    d.q_value
                )?,
                _ => writeln!(w, "\t\t\t\t")?,
            }
        }
        Ok(())
    })?;
    crate::io::atomic::write_atomic(out.join("seqlets.tsv"), |w| {
        writeln!(w, "sequence\ttrack\tstart\tend\tsign\tscore\tcluster\tstrand")?;
        for (i, s) in a.seqlets.iter().enumerate() {
            let (cluster, strand) = match a.assigned[i].map(|c| &a.clusters[c]) {
                Some(c) => {
                    let rev = c.members.iter().find(|m| m.seqlet == i).is_some_and(|m| m.alignment.reverse);
                    (c.id.as_str(), if rev { "-" } else { "+" })
                }
                None => ("", ""),
            };
            writeln!(
                w,
                "{}\t{}\t{}\t{}\t{}\t{:.6e}\t{cluster}\t{strand}",
                a.set.names[s.seq],
                a.set.tracks[s.map],
                s.start,
                s.end,
                s.sign.symbol(),
                s.score
            )?;
        }
        Ok(())
    })?;
    if logos && !a.clusters.is_empty() {
        let dir = out.join("logos");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        for (c, (m, hit)) in a.clusters.iter().zip(motifs.iter().zip(&a.matches)) {
            let cwm = ndarray::Array2::from_shape_fn((c.cwm.len(), 4), |(i, b)| c.cwm[i][b] as f32);
            let info = m.information();
            let bits = ndarray::Array2::from_shape_fn((c.pwm.len(), 4), |(i, b)| (c.pwm[i][b] * info[i]) as f32);
            let label = match hit {
                Some(d) => {
                    format!(" — best match {} {} (q = {:.2e})", d.id, d.name.as_deref().unwrap_or(""), d.q_value)
                }
                None => String::new(),
            };
            let title = format!("{} ({}, {} seqlets) {}{label}", c.id, c.sign.symbol(), c.members.len(), m.consensus());
            let rows = [("CWM (mean attribution)".to_string(), cwm.view()), ("PWM (bits)".to_string(), bits.view())];
            crate::jobs::attribute::logo::plot_logos(
                &dir.join(format!("{}.png", c.id)),
                &title,
                &rows,
                0..c.cwm.len(),
                0,
            )?;
        }
    }
    Ok(())
}
