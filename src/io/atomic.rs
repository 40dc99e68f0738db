//! Atomic output: write to a temporary file next to the destination, rename when complete.
//!
//! A failed or interrupted job never leaves a partial file under the final name: the
//! temporary file is removed when the writer is dropped without being committed.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A file being written under a temporary name in the destination's folder.
pub struct AtomicFile {
    dest: PathBuf,
    tmp: tempfile::NamedTempFile,
}

impl AtomicFile {
    /// Creates the temporary file for `dest` (its folder must exist).
    pub fn create(dest: impl AsRef<Path>) -> Result<Self> {
        let dest = dest.as_ref().to_path_buf();
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".part")
            .tempfile_in(&dir)
            .map_err(|e| Error::io(&dest, e))?;
        Ok(Self { dest, tmp })
    }

    /// The open temporary file.
    pub fn file(&mut self) -> &mut File {
        self.tmp.as_file_mut()
    }

    /// The temporary file's path (for writers that want a path).
    pub fn tmp_path(&self) -> &Path {
        self.tmp.path()
    }

    /// The final destination.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Flushes to disk and renames to the destination, replacing any existing file.
    pub fn commit(self) -> Result<()> {
        let dest = self.dest;
        self.tmp.as_file().sync_all().map_err(|e| Error::io(&dest, e))?;
        // Temporary files are created private (0600); a finished output gets the usual 0644.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            self.tmp
                .as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644))
                .map_err(|e| Error::io(&dest, e))?;
        }
        self.tmp.persist(&dest).map_err(|e| Error::io(&dest, e.error))?;
        Ok(())
    }
}

/// Writes `dest` atomically through a buffered writer filled by `fill`.
pub fn write_atomic<F>(dest: impl AsRef<Path>, fill: F) -> Result<()>
where
    F: FnOnce(&mut BufWriter<&mut File>) -> std::io::Result<()>,
{
    let mut out = AtomicFile::create(dest)?;
    {
        let dest = out.dest.clone();
        let mut w = BufWriter::new(out.file());
        fill(&mut w).map_err(|e| Error::io(&dest, e))?;
        w.flush().map_err(|e| Error::io(&dest, e))?;
    }
    out.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn failed_write_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.txt");
        let r = write_atomic(&dest, |w| {
            w.write_all(b"partial")?;
            Err(std::io::Error::other("boom"))
        });
        assert!(r.is_err());
        assert!(!dest.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "temporary file left behind");
    }

    #[test]
    fn successful_write_renames() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.txt");
        write_atomic(&dest, |w| w.write_all(b"done")).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"done");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
