//! Atomic output: write to a temporary file next to the destination, rename when complete.
//!
//! A failed or interrupted job never leaves a partial file under the final name: the
//! temporary file (`.NAME.XXXXXX.part`) is removed when the writer is dropped without being
//! committed, and temporary files of the same output left by a killed run are removed when the
//! output is next written.
//!
//! Only regular files are replaced. A destination that is a symbolic link is resolved and its
//! target written (the link stays); a dangling link, a directory, a device, a FIFO or a socket is
//! refused, so `--out /dev/full` or `--out some-fifo` never turns into a regular file.

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
    /// Creates the temporary file for `dest` (its folder must exist). See the module docs for
    /// what `dest` may be.
    pub fn create(dest: impl AsRef<Path>) -> Result<Self> {
        let dest = resolve_destination(dest.as_ref())?;
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        remove_stale_parts(&dir, &name);
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".part")
            .rand_bytes(RAND_LEN)
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

/// Length of the random part of temporary names.
const RAND_LEN: usize = 6;

/// The path to write for `dest`: itself when it is missing or a regular file, the target of a
/// symbolic link to a regular (or missing) file; anything else is an error.
fn resolve_destination(dest: &Path) -> Result<PathBuf> {
    let refuse = |what: &str| {
        Error::io(
            dest,
            std::io::Error::other(format!(
                "is {what}; outputs are written to regular files only (choose another --out)"
            )),
        )
    };
    let meta = match std::fs::symlink_metadata(dest) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(dest.to_path_buf()),
        Err(e) => return Err(Error::io(dest, e)),
    };
    let (path, meta) = if meta.file_type().is_symlink() {
        match std::fs::canonicalize(dest) {
            Ok(target) => {
                let m = std::fs::metadata(&target).map_err(|e| Error::io(&target, e))?;
                (target, m)
            }
            Err(_) => return Err(refuse("a symbolic link whose target does not exist")),
        }
    } else {
        (dest.to_path_buf(), meta)
    };
    let ft = meta.file_type();
    if ft.is_file() {
        return Ok(path);
    }
    if ft.is_dir() {
        return Err(refuse("a directory"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_char_device() || ft.is_block_device() {
            return Err(refuse("a device"));
        }
        if ft.is_fifo() {
            return Err(refuse("a FIFO (named pipe)"));
        }
        if ft.is_socket() {
            return Err(refuse("a socket"));
        }
    }
    Err(refuse("not a regular file"))
}

/// Removes `.NAME.XXXXXX.part` files that a killed run left in `dir` for the output `name`.
/// Best effort: a file that cannot be removed is left alone.
fn remove_stale_parts(dir: &Path, name: &str) {
    let prefix = format!(".{name}.");
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(f) = file_name.to_str() else { continue };
        let Some(middle) = f.strip_prefix(&prefix).and_then(|r| r.strip_suffix(".part")) else { continue };
        let ours = middle.len() == RAND_LEN && middle.bytes().all(|b| b.is_ascii_alphanumeric());
        if ours && entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => tracing::info!("removed {} left by an interrupted run", entry.path().display()),
                Err(e) => tracing::debug!("could not remove {}: {e}", entry.path().display()),
            }
        }
    }
}

/// Moves a finished file `staged` to `dest` (resolved as [`AtomicFile::create`] does), by a
/// rename when both are on one file system, else by an atomic copy.
pub fn install(staged: &Path, dest: &Path) -> Result<()> {
    let target = resolve_destination(dest)?;
    if std::fs::rename(staged, &target).is_ok() {
        return Ok(());
    }
    write_atomic(&target, |w| std::io::copy(&mut File::open(staged)?, w).map(|_| ()))?;
    std::fs::remove_file(staged).map_err(|e| Error::io(staged, e))
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
    fn stale_parts_of_the_same_output_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join(".out.txt.AbC123.part");
        let other = dir.path().join(".out.txt.more.AbC123.part");
        std::fs::write(&stale, b"killed").unwrap();
        std::fs::write(&other, b"another output's").unwrap();
        write_atomic(dir.path().join("out.txt"), |w| w.write_all(b"done")).unwrap();
        assert!(!stale.exists());
        assert!(other.exists(), "a part file of another output was removed");
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_written_through_and_specials_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("real.txt");
        std::fs::write(&target, b"old").unwrap();
        let link = dir.path().join("link.txt");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_atomic(&link, |w| w.write_all(b"new")).unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link was replaced");
        assert_eq!(std::fs::read(&target).unwrap(), b"new");

        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("missing"), &dangling).unwrap();
        assert!(write_atomic(&dangling, |w| w.write_all(b"x")).is_err());
        assert!(std::fs::symlink_metadata(&dangling).unwrap().file_type().is_symlink());

        let e = write_atomic("/dev/null", |w| w.write_all(b"x")).unwrap_err().to_string();
        assert!(e.contains("device"), "{e}");
        assert!(write_atomic(dir.path(), |w| w.write_all(b"x")).unwrap_err().to_string().contains("directory"));
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

/// Marker file of a staging folder made by [`StagedDir`].
const STAGE_MARK: &str = ".s2f-staging";

/// Checks that `dir` can become an output folder: it does not exist or is empty, and its parent
/// exists. Call before long work, so a bad `--out` fails at once.
pub fn check_out_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?.next().is_none();
        if !empty {
            return Err(Error::io(
                dir,
                std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "the output folder exists and is not empty; remove it or choose another",
                ),
            ));
        }
    }
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(Error::io(
            dir,
            std::io::Error::new(std::io::ErrorKind::NotFound, "its parent folder does not exist"),
        ));
    }
    Ok(())
}

/// An output folder built as `DIR.partial` and renamed into place by [`StagedDir::commit`]; if
/// dropped uncommitted (an error on the way), the staging folder is removed, so a failed run
/// leaves nothing.
pub struct StagedDir {
    stage: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl StagedDir {
    /// Stages `dir` (see [`check_out_dir`]). A staging folder left by an interrupted run (it
    /// holds the marker) is removed first; any other `DIR.partial` is refused, never deleted.
    pub fn create(dir: &Path) -> Result<Self> {
        check_out_dir(dir)?;
        let mut name = dir.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "out".into());
        name.push(".partial");
        let stage = dir.with_file_name(name);
        if stage.exists() {
            if !stage.join(STAGE_MARK).is_file() {
                return Err(Error::io(
                    &stage,
                    std::io::Error::new(std::io::ErrorKind::AlreadyExists, "exists and was not made by s2f; remove it"),
                ));
            }
            std::fs::remove_dir_all(&stage).map_err(|e| Error::io(&stage, e))?;
        }
        std::fs::create_dir_all(&stage).map_err(|e| Error::io(&stage, e))?;
        std::fs::write(stage.join(STAGE_MARK), b"").map_err(|e| Error::io(&stage, e))?;
        Ok(Self { stage, dest: dir.to_path_buf(), committed: false })
    }

    /// The staging folder to write into.
    pub fn path(&self) -> &Path {
        &self.stage
    }

    /// Renames the staging folder to the output folder (an empty one is replaced).
    pub fn commit(mut self) -> Result<()> {
        std::fs::remove_file(self.stage.join(STAGE_MARK)).map_err(|e| Error::io(&self.stage, e))?;
        if self.dest.exists() {
            std::fs::remove_dir(&self.dest).map_err(|e| Error::io(&self.dest, e))?;
        }
        std::fs::rename(&self.stage, &self.dest).map_err(|e| Error::io(&self.dest, e))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed && self.stage.join(STAGE_MARK).is_file() {
            let _ = std::fs::remove_dir_all(&self.stage);
        }
    }
}
