//! Variant effect scoring from a VCF (`s2f variants`): basenji_sad's sequences and statistics,
//! with strict REF checks.
//!
//! Each site's reference window is predicted once for all its ALTs (see [`alleles`] for the
//! sequences); reference and alternate sequences share batches; sites are read from the VCF in
//! chunks. A site whose chromosome is not in the genome (also after adding or removing a `chr`
//! prefix) or whose REF differs from the genome is never scored against the wrong bases: it is
//! rejected with its reason, or, with `strict`, stops the run. With `allow_swap`, a record whose
//! (single) ALT is what the genome holds is scored with REF and ALT exchanged (the genome's
//! allele as reference, the VCF's REF as alternate) and written so, marked `swapped` (basenji's
//! flip). Each unscorable ALT (symbolic, `*`, missing) is rejected
//! alone.

pub mod alleles;
pub mod h5;
pub mod output;
pub mod run;
pub mod stats;

use std::collections::HashMap;

use ndarray::{s, Array3, Axis};

use crate::engine::ensemble::{predict_ensemble, Augment};
use crate::engine::Predictor;
use crate::error::{Error, Result};
use crate::genome::fasta::Fasta;
use crate::genome::onehot::{Encoder, Layout};
use crate::genome::vcf::{Allele, Site, VcfReader};
use stats::Stat;

/// What to compute.
#[derive(Debug, Clone)]
pub struct VariantOptions {
    /// Statistics, in output order.
    pub stats: Vec<Stat>,
    /// Output tracks (indices into the head's tracks).
    pub tracks: Vec<usize>,
    /// Bins summed over, `a..b` (default all).
    pub bins: Option<(usize, usize)>,
    /// Test-time augmentation.
    pub augment: Augment,
    /// Pseudocount of SAR and SADR.
    pub pseudo: f64,
    /// A REF mismatch or unknown chromosome is an error instead of a rejection.
    pub strict: bool,
    /// Score records whose ALT matches the genome with REF and ALT exchanged.
    pub allow_swap: bool,
    /// Sequences predicted per chunk of sites (memory bound).
    pub chunk_sequences: usize,
}

/// One scored allele.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// VCF ID.
    pub id: String,
    /// Chromosome as in the VCF.
    pub chrom: String,
    /// 1-based position as in the VCF.
    pub pos: u64,
    /// REF and ALT as in the VCF.
    pub reference: String,
    /// The scored ALT.
    pub alt: String,
    /// REF and ALT were exchanged (`allow_swap`).
    pub swapped: bool,
    /// `stats × tracks` values, stat-major.
    pub values: Vec<f64>,
}

/// One allele that was not scored, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// VCF line.
    pub line: u64,
    /// Chromosome, position, ID, REF, ALT as in the VCF.
    pub chrom: String,
    /// 1-based position.
    pub pos: u64,
    /// VCF ID.
    pub id: String,
    /// REF.
    pub reference: String,
    /// ALT.
    pub alt: String,
    /// Why it was not scored.
    pub reason: String,
}

/// Scores sites: the genome's chromosome names, the encoder and the options, checked once.
pub struct Scorer {
    names: HashMap<String, u64>,
    enc: Encoder<f32>,
    input_len: usize,
    opts: VariantOptions,
}

impl Scorer {
    /// A scorer for a model reading `input_len` bp with N encoded as `n_value`.
    pub fn new(fasta: &Fasta, input_len: usize, n_value: f32, opts: VariantOptions) -> Result<Self> {
        if opts.stats.is_empty() {
            return Err(Error::InvalidArgument("no statistic to compute".into()));
        }
        if let Some(st) = opts.stats.iter().enumerate().find(|(i, s)| opts.stats[..*i].contains(s)).map(|(_, s)| s) {
            return Err(Error::InvalidArgument(format!("statistic {} is given twice", st.name())));
        }
        if let Some(t) = opts.tracks.iter().enumerate().find(|(i, t)| opts.tracks[..*i].contains(t)).map(|(_, t)| t) {
            return Err(Error::InvalidArgument(format!("track {t} is given twice")));
        }
        if !(opts.pseudo.is_finite() && opts.pseudo >= 0.0) {
            return Err(Error::InvalidArgument(format!("--pseudo {} must be a finite number ≥ 0", opts.pseudo)));
        }
        opts.augment.check(input_len)?;
        let names = fasta.chrom_sizes().into_iter().map(|c| (c.name, c.len)).collect();
        Ok(Self { names, enc: Encoder::<f32>::new(n_value)?, input_len, opts })
    }

    /// The options.
    pub fn options(&self) -> &VariantOptions {
        &self.opts
    }

    /// Scores `sites` (read from `vcf_path`, named in errors), predicting at most
    /// `chunk_sequences` sequences at a time. Scored alleles and rejections come in VCF order.
    pub fn score(
        &self,
        predictor: &mut Predictor,
        fasta: &mut Fasta,
        sites: &[Site],
        vcf_path: &std::path::Path,
    ) -> Result<(Vec<Scored>, Vec<Rejected>)> {
        let mut scored = Vec::new();
        let mut rejected = Vec::new();
        let mut chunk = Chunk::default();
        for (i, site) in sites.iter().enumerate() {
            match prepare(fasta, &self.names, site, self.input_len, &self.opts, vcf_path)? {
                Prepared::Rejected(r) => rejected.extend(r),
                Prepared::Site(p) => {
                    rejected.extend(p.rejected.iter().cloned());
                    chunk.add(p);
                }
            }
            let last = i + 1 == sites.len();
            if chunk.sequences() >= self.opts.chunk_sequences.max(1) || (last && chunk.sequences() > 0) {
                scored.extend(std::mem::take(&mut chunk).score(predictor, &self.enc, self.input_len, &self.opts)?);
            }
        }
        Ok((scored, rejected))
    }
}

/// Scores every site of `vcf` in memory (see [`run`] for sharded, resumable runs on disk).
pub fn score_vcf(
    predictor: &mut Predictor,
    fasta: &mut Fasta,
    vcf: &mut VcfReader,
    input_len: usize,
    n_value: f32,
    opts: &VariantOptions,
) -> Result<(Vec<Scored>, Vec<Rejected>)> {
    let scorer = Scorer::new(fasta, input_len, n_value, opts.clone())?;
    let mut sites = Vec::new();
    while let Some(s) = vcf.next_site()? {
        sites.push(s);
    }
    let path = vcf.path().to_path_buf();
    scorer.score(predictor, fasta, &sites, &path)
}

/// A site ready to predict: its reference sequence and the sequences of its scorable ALTs.
struct PreparedSite {
    site: Site,
    reference: Vec<u8>,
    alts: Vec<(String, Vec<u8>, bool)>,
    rejected: Vec<Rejected>,
}

enum Prepared {
    Site(PreparedSite),
    Rejected(Vec<Rejected>),
}

fn reject(site: &Site, alt: &str, reason: String) -> Rejected {
    Rejected {
        line: site.line,
        chrom: site.chrom.clone(),
        pos: site.pos,
        id: site.id.clone(),
        reference: site.reference.clone(),
        alt: alt.to_string(),
        reason,
    }
}

/// The genome's name for a VCF chromosome: as written, else with `chr` added or removed.
fn genome_chrom<'a>(names: &'a HashMap<String, u64>, chrom: &str) -> Option<(&'a str, u64)> {
    let candidates = [chrom.to_string(), format!("chr{chrom}"), chrom.strip_prefix("chr").unwrap_or(chrom).to_string()];
    candidates.iter().find_map(|c| names.get_key_value(c.as_str()).map(|(k, v)| (k.as_str(), *v)))
}

fn prepare(
    fasta: &mut Fasta,
    names: &HashMap<String, u64>,
    site: &Site,
    len: usize,
    opts: &VariantOptions,
    vcf_path: &std::path::Path,
) -> Result<Prepared> {
    let all = |reason: String| -> Vec<Rejected> {
        site.alts.iter().map(|a| reject(site, a.text(), reason.clone())).collect()
    };
    let fail = |reason: String| -> Result<Prepared> {
        if opts.strict {
            Err(Error::malformed(vcf_path, format!("line {}", site.line), format!("{reason} (--strict)")))
        } else {
            Ok(Prepared::Rejected(all(reason)))
        }
    };
    if site.pos == 0 {
        return Ok(Prepared::Rejected(all("POS 0 (a telomere record) has no base to score".into())));
    }
    let Some((chrom, chrom_len)) = genome_chrom(names, &site.chrom) else {
        return fail(format!("chromosome {:?} is not in the genome", site.chrom));
    };
    let ref_len = site.reference.len();
    if site.pos - 1 + ref_len as u64 > chrom_len {
        return fail(format!(
            "{}:{} with a {ref_len}-bp REF reaches past the chromosome end ({chrom_len})",
            site.chrom, site.pos
        ));
    }
    if ref_len >= len / 2 {
        return fail(format!(
            "REF of {ref_len} bp is too long for the model's {len}-bp window (at most {} bp)",
            len / 2 - 1
        ));
    }
    let (_, window) = alleles::reference_window(fasta, chrom, site.pos, len)?;
    let at = alleles::variant_index(len);
    let genome = String::from_utf8_lossy(&window[at..at + ref_len]).into_owned();
    let mut swapped = false;
    if genome != site.reference {
        let single = match site.alts.as_slice() {
            [Allele::Bases(a)] if *a == genome => Some(a.clone()),
            _ => None,
        };
        match single {
            Some(_) if opts.allow_swap => swapped = true,
            Some(_) => {
                return fail(format!(
                    "REF {} does not match the genome ({genome}), which holds the ALT (--allow-swap scores it swapped)",
                    site.reference
                ))
            }
            None => return fail(format!("REF {} does not match the genome ({genome})", site.reference)),
        }
    }
    let mut rejected = Vec::new();
    let mut alts = Vec::new();
    if swapped {
        // The genome holds the VCF's ALT: scored as genome allele → VCF REF, and written with
        // REF and ALT exchanged (basenji's flip), marked `swapped`.
        let genome_allele = site.alts[0].text().to_string();
        let with_ref = alleles::alternate_sequence(&window, genome_allele.len(), site.reference.as_bytes())?;
        let mut flipped = site.clone();
        flipped.reference = genome_allele;
        return Ok(Prepared::Site(PreparedSite {
            site: flipped,
            reference: window,
            alts: vec![(site.reference.clone(), with_ref, true)],
            rejected,
        }));
    }
    for a in &site.alts {
        match a {
            Allele::Bases(b) if *b == site.reference => {
                rejected.push(reject(site, b, "ALT equals REF".into()));
            }
            Allele::Bases(b) => {
                alts.push((b.clone(), alleles::alternate_sequence(&window, ref_len, b.as_bytes())?, false))
            }
            Allele::Unscorable(text, why) => rejected.push(reject(site, text, (*why).to_string())),
        }
    }
    if alts.is_empty() {
        return Ok(Prepared::Rejected(rejected));
    }
    Ok(Prepared::Site(PreparedSite { site: site.clone(), reference: window, alts, rejected }))
}

#[derive(Default)]
struct Chunk {
    sites: Vec<PreparedSite>,
}

impl Chunk {
    fn add(&mut self, p: PreparedSite) {
        self.sites.push(p);
    }

    fn sequences(&self) -> usize {
        self.sites.iter().map(|s| 1 + s.alts.len()).sum()
    }

    /// Predicts every sequence of the chunk in one ensemble call and computes the statistics.
    fn score(self, p: &mut Predictor, enc: &Encoder<f32>, len: usize, opts: &VariantOptions) -> Result<Vec<Scored>> {
        let n = self.sequences();
        let mut x = Array3::<f32>::zeros((n, len, 4));
        let mut row = 0;
        for s in &self.sites {
            for seq in std::iter::once(&s.reference).chain(s.alts.iter().map(|a| &a.1)) {
                let mut r = x.index_axis_mut(Axis(0), row);
                let buf = r.as_slice_mut().ok_or_else(|| Error::InvalidArgument("one-hot layout".into()))?;
                enc.encode_into(seq, Layout::LengthFirst, buf)?;
                row += 1;
            }
        }
        let y = predict_ensemble(p, x.view(), &opts.augment)?;
        let bins = y.shape()[1];
        let (a, b) = opts.bins.unwrap_or((0, bins));
        if a >= b || b > bins {
            return Err(Error::InvalidArgument(format!("--bins {a}:{b} is outside the model's {bins} bins")));
        }
        if let Some(&t) = opts.tracks.iter().find(|&&t| t >= y.shape()[2]) {
            return Err(Error::InvalidArgument(format!("track {t} does not exist (the head has {})", y.shape()[2])));
        }
        let pick = |i: usize| -> ndarray::Array2<f32> { y.slice(s![i, a..b, ..]).select(Axis(1), &opts.tracks) };
        let mut out = Vec::new();
        let mut row = 0;
        for s in self.sites {
            let r = pick(row);
            row += 1;
            for (alt, _, swapped) in s.alts {
                let v = pick(row);
                row += 1;
                let values = opts.stats.iter().flat_map(|st| st.compute(r.view(), v.view(), opts.pseudo)).collect();
                out.push(Scored {
                    id: s.site.id.clone(),
                    chrom: s.site.chrom.clone(),
                    pos: s.site.pos,
                    reference: s.site.reference.clone(),
                    alt,
                    swapped,
                    values,
                });
            }
        }
        Ok(out)
    }
}
