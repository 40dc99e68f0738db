//! `s2f export-triton`: models as a Triton Inference Server model repository.
//!
//! For each model, `REPO/NAME/config.pbtxt` (platform `onnxruntime_onnx`, `max_batch_size`,
//! `dynamic_batching`, the graph's inputs and outputs with their dims without the batch, all
//! `TYPE_FP32`), `REPO/NAME/1/model.onnx` (the package's graph, unchanged) and one labels file
//! per output that has tracks (`OUTPUT_labels.txt`: one track identifier per line, in column
//! order). NAME is what `s2f serve` calls the model, so client code runs against both.
//! Each model folder is built beside its destination and renamed into place; an existing model
//! folder is never overwritten.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::model::{check_name, default_name, tensors, track_labels, TensorInfo};
use crate::error::{Error, Result};
use crate::model::Package;

/// Options of the export.
#[derive(Debug, Clone, Copy)]
pub struct TritonOptions {
    /// `max_batch_size`.
    pub max_batch: usize,
    /// `dynamic_batching.max_queue_delay_microseconds`.
    pub max_delay_us: u64,
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn labels_file(output: &str) -> String {
    let safe: String = output
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
        .collect();
    format!("{safe}_labels.txt")
}

/// The `config.pbtxt` text of a model.
pub fn config_text(
    name: &str,
    inputs: &[TensorInfo],
    outputs: &[TensorInfo],
    labels: &[Vec<String>],
    opts: TritonOptions,
) -> String {
    let mut s = String::new();
    let tensor_list = |s: &mut String, key: &str, list: &[TensorInfo], labels: Option<&[Vec<String>]>| {
        let _ = writeln!(s, "{key} [");
        for (i, t) in list.iter().enumerate() {
            let dims: Vec<String> = t.shape.iter().skip(1).map(|d| d.to_string()).collect();
            let _ = writeln!(s, "  {{");
            let _ = writeln!(s, "    name: {}", quote(&t.name));
            let _ = writeln!(s, "    data_type: TYPE_FP32");
            let _ = writeln!(s, "    dims: [ {} ]", dims.join(", "));
            if labels.is_some_and(|l| l.get(i).is_some_and(|l| !l.is_empty())) {
                let _ = writeln!(s, "    label_filename: {}", quote(&labels_file(&t.name)));
            }
            let _ = writeln!(s, "  }}{}", if i + 1 < list.len() { "," } else { "" });
        }
        let _ = writeln!(s, "]");
    };
    let _ = writeln!(s, "name: {}", quote(name));
    let _ = writeln!(s, "platform: \"onnxruntime_onnx\"");
    let _ = writeln!(s, "max_batch_size: {}", opts.max_batch);
    tensor_list(&mut s, "input", inputs, None);
    tensor_list(&mut s, "output", outputs, Some(labels));
    let _ = writeln!(s, "dynamic_batching {{");
    let _ = writeln!(s, "  max_queue_delay_microseconds: {}", opts.max_delay_us);
    let _ = writeln!(s, "}}");
    s
}

/// Exports `models` (path, optional name) into the repository `repo` (created if missing);
/// returns the model folders written.
pub fn export(models: &[(PathBuf, Option<String>)], repo: &Path, opts: TritonOptions) -> Result<Vec<PathBuf>> {
    if opts.max_batch == 0 {
        return Err(Error::InvalidArgument("--max-batch must be at least 1".into()));
    }
    // Everything is checked before anything is written.
    let mut staged = Vec::new();
    for (path, name) in models {
        let pkg = Package::open(path)?;
        let name = name.clone().unwrap_or_else(|| default_name(&pkg));
        check_name(&name)?;
        if staged.iter().any(|(n, _, _, _, _)| n == &name) {
            return Err(Error::InvalidArgument(format!("two models are named {name:?}; name them with MODEL=NAME")));
        }
        let dest = repo.join(&name);
        if dest.exists() {
            return Err(Error::io(
                &dest,
                std::io::Error::other("already exists; remove it or export under another name (MODEL=NAME)"),
            ));
        }
        let (inputs, outputs) = tensors(&pkg)?;
        let labels = track_labels(&pkg, &outputs);
        staged.push((name, pkg, inputs, outputs, labels));
    }
    std::fs::create_dir_all(repo).map_err(|e| Error::io(repo, e))?;
    let mut written = Vec::new();
    for (name, pkg, inputs, outputs, labels) in staged {
        let tmp =
            tempfile::Builder::new().prefix(&format!(".{name}.")).tempdir_in(repo).map_err(|e| Error::io(repo, e))?;
        let dir = tmp.path();
        let write = |rel: &str, bytes: &[u8]| -> Result<()> {
            let p = dir.join(rel);
            std::fs::write(&p, bytes).map_err(|e| Error::io(&p, e))
        };
        std::fs::create_dir(dir.join("1")).map_err(|e| Error::io(dir, e))?;
        write("1/model.onnx", &pkg.onnx)?;
        write("config.pbtxt", config_text(&name, &inputs, &outputs, &labels, opts).as_bytes())?;
        for (o, l) in outputs.iter().zip(&labels) {
            if !l.is_empty() {
                write(&labels_file(&o.name), (l.join("\n") + "\n").as_bytes())?;
            }
        }
        let dest = repo.join(&name);
        let kept = tmp.keep();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o755));
        }
        if let Err(e) = std::fs::rename(&kept, &dest) {
            let _ = std::fs::remove_dir_all(&kept);
            return Err(Error::io(&dest, e));
        }
        written.push(dest);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_names_tensors_and_labels() {
        let t = |n: &str, s: &[i64]| TensorInfo { name: n.into(), shape: s.to_vec() };
        let text = config_text(
            "demo",
            &[t("sequence", &[-1, 401, 4])],
            &[t("predictions", &[-1, 45]), t("aux", &[-1, -1])],
            &[vec!["a".into()], vec![]],
            TritonOptions { max_batch: 64, max_delay_us: 5000 },
        );
        assert!(text.contains("dims: [ 401, 4 ]"), "{text}");
        assert!(text.contains("dims: [ 45 ]\n    label_filename: \"predictions_labels.txt\""), "{text}");
        assert!(text.contains("dims: [ -1 ]\n  }"), "{text}");
        assert!(text.contains("max_batch_size: 64"));
    }
}
