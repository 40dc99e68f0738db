//! Chromosome folds for cross-validation, as DRG makes them.
//!
//! `k` folds of whole chromosomes with balanced total length (largest chromosome first, each to
//! the fold with the smallest total so far; ties go to the lower fold, then by name, so the
//! result is deterministic). Split `i` uses fold `i` for validation, fold `i + 1` (mod `k`) for
//! testing and the rest for training.
//!
//! File format (DRG's): for each fold a line `# Set_<j>` followed by one line with the fold's
//! chromosome names separated by spaces.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};
use crate::genome::fasta::ChromSize;

/// Chromosomes assigned to `k` folds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folds {
    /// Fold `j`'s chromosomes, each fold sorted by decreasing length at creation.
    pub sets: Vec<Vec<String>>,
}

/// One train / validation / test split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Training chromosomes.
    pub train: Vec<String>,
    /// Validation chromosomes (fold `i`).
    pub valid: Vec<String>,
    /// Test chromosomes (fold `i + 1`).
    pub test: Vec<String>,
}

impl Folds {
    /// Makes `k` size-balanced folds of `sizes` minus `exclude`. `k` must be at least 3 (so a
    /// split has training data) and at most the number of chromosomes left.
    pub fn balanced(sizes: &[ChromSize], k: usize, exclude: &[String]) -> Result<Self> {
        let mut chroms: Vec<&ChromSize> = sizes.iter().filter(|c| !exclude.contains(&c.name)).collect();
        for e in exclude {
            if !sizes.iter().any(|c| &c.name == e) {
                tracing::warn!("--exclude names {e:?}, which the genome does not have");
            }
        }
        if k < 3 {
            return Err(Error::InvalidArgument(format!("{k} folds: need at least 3 (validation, test, training)")));
        }
        if chroms.len() < k {
            return Err(Error::InvalidArgument(format!(
                "{k} folds but only {} chromosomes to distribute",
                chroms.len()
            )));
        }
        chroms.sort_by(|a, b| b.len.cmp(&a.len).then_with(|| a.name.cmp(&b.name)));
        let mut totals = vec![0u64; k];
        let mut sets = vec![Vec::new(); k];
        for c in chroms {
            let j = (0..k).min_by_key(|&j| (totals[j], j)).unwrap_or(0);
            totals[j] += c.len;
            sets[j].push(c.name.clone());
        }
        Ok(Self { sets })
    }

    /// Number of folds.
    pub fn k(&self) -> usize {
        self.sets.len()
    }

    /// Split `i`: fold `i` validates, fold `(i + 1) % k` tests, the others train.
    pub fn split(&self, i: usize) -> Result<Split> {
        let k = self.k();
        if i >= k {
            return Err(Error::InvalidArgument(format!("fold {i} does not exist (folds 0..{k})")));
        }
        let t = (i + 1) % k;
        let train = (0..k).filter(|&j| j != i && j != t).flat_map(|j| self.sets[j].iter().cloned()).collect();
        Ok(Split { train, valid: self.sets[i].clone(), test: self.sets[t].clone() })
    }

    /// Writes the folds in DRG's format.
    pub fn write<W: Write>(&self, mut w: W) -> std::io::Result<()> {
        for (j, set) in self.sets.iter().enumerate() {
            writeln!(w, "# Set_{j}")?;
            writeln!(w, "{}", set.join(" "))?;
        }
        Ok(())
    }

    /// Reads a folds file written by [`Folds::write`] (or by DRG).
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, path)
    }

    /// Parses the folds format; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let mut sets: Vec<Vec<String>> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, line) in text.lines().enumerate() {
            let at = format!("line {}", i + 1);
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(h) = line.strip_prefix('#') {
                if !h.trim().starts_with("Set_") {
                    return Err(Error::malformed(path, at, format!("expected '# Set_<j>', found {line:?}")));
                }
                sets.push(Vec::new());
                continue;
            }
            let set = sets
                .last_mut()
                .ok_or_else(|| Error::malformed(path, at.clone(), "names before the first '# Set_' line"))?;
            for name in line.split_whitespace() {
                if !seen.insert(name.to_string()) {
                    return Err(Error::malformed(path, at.clone(), format!("{name:?} is in more than one fold")));
                }
                set.push(name.to_string());
            }
        }
        if sets.is_empty() {
            return Err(Error::Empty { path: path.into(), what: "no folds ('# Set_<j>' lines)".into() });
        }
        Ok(Self { sets })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(v: &[(&str, u64)]) -> Vec<ChromSize> {
        v.iter().map(|(n, l)| ChromSize { name: n.to_string(), len: *l }).collect()
    }

    #[test]
    fn balanced_assignment_and_split() {
        let s = sizes(&[("a", 100), ("b", 90), ("c", 60), ("d", 50), ("e", 40), ("f", 10), ("chrY", 70)]);
        let f = Folds::balanced(&s, 3, &["chrY".to_string()]).unwrap();
        // LPT: a→0, b→1, c→2, d→2 (60<90<100), e→1 (90<100<110), f→0 (100<110<130).
        assert_eq!(f.sets, vec![vec!["a", "f"], vec!["b", "e"], vec!["c", "d"]]);
        let sp = f.split(2).unwrap();
        assert_eq!(sp.valid, ["c", "d"]);
        assert_eq!(sp.test, ["a", "f"]);
        assert_eq!(sp.train, ["b", "e"]);
        assert!(f.split(3).is_err());
        assert!(Folds::balanced(&s, 2, &[]).is_err());
        assert!(Folds::balanced(&s, 8, &[]).is_err());
    }

    #[test]
    fn file_round_trip_and_errors() {
        let s = sizes(&[("a", 5), ("b", 4), ("c", 3), ("d", 2)]);
        let f = Folds::balanced(&s, 3, &[]).unwrap();
        let mut buf = Vec::new();
        f.write(&mut buf).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(text, "# Set_0\na\n# Set_1\nb\n# Set_2\nc d\n");
        assert_eq!(Folds::parse(&text, Path::new("f.txt")).unwrap(), f);
        assert!(Folds::parse("a b\n", Path::new("f.txt")).unwrap_err().to_string().contains("line 1"));
        assert!(Folds::parse("# Set_0\na\n# Set_1\na\n", Path::new("f.txt")).is_err());
    }
}
