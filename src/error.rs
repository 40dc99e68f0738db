//! The library's typed error.
//!
//! Every variant names what was wrong (a file, a line or record, a coordinate) so that the
//! binary can print it as is. The binary adds context with `anyhow`; the library never panics
//! on user input.

use std::path::PathBuf;

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors raised by s2f's library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system I/O error on a named file.
    #[error("{path}: {source}")]
    Io {
        /// The file being read or written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A file whose content does not follow its format; `location` is a line, record or
    /// byte offset in words ("line 12", "record chr2").
    #[error("{path}: {location}: {message}")]
    Malformed {
        /// The offending file.
        path: PathBuf,
        /// Where in the file (e.g. "line 3").
        location: String,
        /// What is wrong.
        message: String,
    },

    /// A file with no usable records.
    #[error("{path}: {what}")]
    Empty {
        /// The file.
        path: PathBuf,
        /// What was expected ("no FASTA records", "no regions").
        what: String,
    },

    /// A FASTA index (`.fai`) that disagrees with its FASTA file.
    #[error("{path}: stale or wrong index: {message}; delete the .fai (s2f rebuilds it) or re-create it with `samtools faidx`")]
    StaleIndex {
        /// The FASTA file.
        path: PathBuf,
        /// What disagrees.
        message: String,
    },

    /// A bgzip-compressed FASTA without its `.gzi` block index.
    #[error(
        "{path}: bgzip-compressed FASTA needs its block index {gzi} (create it with `samtools faidx` or `bgzip -r`)"
    )]
    MissingGzi {
        /// The FASTA file.
        path: PathBuf,
        /// The expected `.gzi` path.
        gzi: PathBuf,
    },

    /// A chromosome that the genome does not have.
    #[error("unknown chromosome {chrom:?} (not in {path}; it has {known})")]
    UnknownChrom {
        /// The requested name.
        chrom: String,
        /// The genome file.
        path: PathBuf,
        /// A short list of known names.
        known: String,
    },

    /// A coordinate outside a chromosome when padding was not requested, or an empty or
    /// inverted interval.
    #[error("{chrom}:{start}-{end}: {message}")]
    BadInterval {
        /// Chromosome.
        chrom: String,
        /// 0-based start.
        start: i64,
        /// 0-based exclusive end.
        end: i64,
        /// What is wrong.
        message: String,
    },

    /// A model spec that is inconsistent (unknown op, impossible shapes, duplicate names).
    #[error("model spec: {0}")]
    Spec(String),

    /// Weights that do not match their spec; lists every problem at once.
    #[error("{path}: weights do not match the model spec:\n  {}", problems.join("\n  "))]
    Weights {
        /// The weights file (or the package).
        path: PathBuf,
        /// One line per missing, extra or misshaped tensor.
        problems: Vec<String>,
    },

    /// An inference engine failed or is unavailable (names the engine and device).
    #[error("{engine}: {message}")]
    Engine {
        /// Engine and device, e.g. "ort (cuda)".
        engine: String,
        /// What went wrong.
        message: String,
    },

    /// Training failed (diverged, backend unavailable, report not drawable).
    #[error("training: {0}")]
    Training(String),

    /// An argument value that cannot be used (zero length, bad fold index, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// A malformed-input error at a location in a file.
    pub fn malformed(path: impl Into<PathBuf>, location: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Malformed { path: path.into(), location: location.into(), message: message.into() }
    }
}
