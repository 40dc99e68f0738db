//! The output folder of a resumable, shardable job (`predict`, `variants`): its manifest, JSON in
//! the parts folder while the run is unfinished and beside the outputs once it is complete.
//! Everything that must agree between a run, its resumption and its shards is in the manifest;
//! these helpers read, write and compare it, generic over the job's manifest type.

use std::io::Write;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::io::atomic::write_atomic;

/// Reads a manifest; a file that is not one is a [`Error::Malformed`] naming it.
pub fn read_manifest<M: DeserializeOwned>(path: &Path) -> Result<M> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::malformed(path, "manifest", format!("{e}")))
}

/// Writes a manifest atomically.
pub fn write_manifest<M: Serialize>(path: &Path, m: &M) -> Result<()> {
    let json = serde_json::to_string_pretty(m)
        .map_err(|e| Error::io(path, std::io::Error::other(format!("cannot serialise the manifest: {e}"))))?;
    write_atomic(path, |w| w.write_all(json.as_bytes()))
}

/// Checks `shard` of `n_shards` (0 ≤ shard < n_shards).
pub fn check_shard(shard: usize, n_shards: usize) -> Result<()> {
    if n_shards == 0 || shard >= n_shards {
        return Err(Error::InvalidArgument(format!(
            "shard {shard}/{n_shards} does not exist (use I/N with 0 ≤ I < N)"
        )));
    }
    Ok(())
}

/// Whether `out` holds the finished run of `m` (its manifest at `done`): `Ok(true)` for the same
/// run, `Ok(false)` when there is none, an error for a finished run with other options.
pub fn finished<M: Serialize + DeserializeOwned + PartialEq>(done: &Path, m: &M, out: &Path) -> Result<bool> {
    if !done.is_file() {
        return Ok(false);
    }
    let old = read_manifest::<M>(done)?;
    if agree(&old, m) {
        return Ok(true);
    }
    Err(Error::InvalidArgument(format!(
        "{} holds a finished run with other options or another model ({}); choose another --out",
        out.display(),
        differences(&old, m)
    )))
}

/// Whether a recorded manifest `old` and a new one `new` describe the same run. A manifest
/// written before engines were recorded (an empty `engine`) agrees with any engine.
pub fn agree<M: Serialize + PartialEq>(old: &M, new: &M) -> bool {
    if old == new {
        return true;
    }
    let (Ok(serde_json::Value::Object(mut a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(old), serde_json::to_value(new))
    else {
        return false;
    };
    if a.get("engine").is_some_and(|e| e.as_str() == Some("")) {
        if let Some(e) = b.get("engine") {
            a.insert("engine".into(), e.clone());
        }
    }
    a == b
}

/// The top-level fields in which two manifests differ, with the recorded and the new value
/// (long values shortened), e.g. `engine: "ort (cpu)" there, "tract (cpu)" now`.
pub fn differences<M: Serialize>(old: &M, new: &M) -> String {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(old), serde_json::to_value(new))
    else {
        return "the manifests differ".into();
    };
    let short = |v: Option<&serde_json::Value>| {
        let s = v.map_or("nothing".to_string(), |v| v.to_string());
        if s.chars().count() > 60 {
            format!("{}…", s.chars().take(60).collect::<String>())
        } else {
            s
        }
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    let diffs: Vec<String> = keys
        .into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("{k}: {} there, {} now", short(a.get(k)), short(b.get(k))))
        .collect();
    if diffs.is_empty() {
        "the manifests differ".into()
    } else {
        diffs.join("; ")
    }
}

/// Records `m` at `mpath` for a new run, or checks that the unfinished run there has the same
/// options (so it is resumed, not mixed with another).
pub fn claim<M: Serialize + DeserializeOwned + PartialEq>(mpath: &Path, m: &M, out: &Path) -> Result<()> {
    if !mpath.is_file() {
        return write_manifest(mpath, m);
    }
    let old = read_manifest::<M>(mpath)?;
    if !agree(&old, m) {
        return Err(Error::InvalidArgument(format!(
            "{} holds an unfinished run with other options ({}); resume it with the same options or choose another --out",
            out.display(),
            differences(&old, m)
        )));
    }
    Ok(())
}
