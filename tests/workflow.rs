//! The Snakemake workflow (workflow/Snakefile) run with 3 shards on the hg38 fixture with the
//! demo model, for `predict` and for `variants`: the merged files are byte-identical to one
//! unsharded run.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{fixture, ok, p};

fn snakemake() -> Option<PathBuf> {
    match std::env::var("S2F_PYTHON") {
        Ok(py) => Some(Path::new(&py).with_file_name("snakemake")),
        Err(_) if std::env::var_os("S2F_REQUIRE_ORT").is_some() => {
            panic!("S2F_REQUIRE_ORT is set but S2F_PYTHON is not")
        }
        Err(_) => {
            eprintln!("S2F_PYTHON not set: skipping the Snakemake workflow");
            None
        }
    }
}

/// Runs the workflow in `dir` with `config` (key=value items); returns OUT.
fn run_workflow(snakemake: &Path, dir: &Path, config: &[String]) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = dir.join("sharded");
    let run = Command::new(snakemake)
        .args(["-s", p(&root.join("workflow/Snakefile")), "--cores", "2", "--directory", p(dir), "--config"])
        .args(config)
        .arg(format!("out={}", p(&out)))
        .arg("shards=3")
        .arg(format!("s2f={}", env!("CARGO_BIN_EXE_s2f")))
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "snakemake failed:\n{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    for i in 0..3 {
        assert!(out.join(format!("parts/{i}")).is_dir(), "shard {i} ran into its own part folder");
    }
    out
}

/// Every final file of `whole` (not its manifest) is byte-identical in `merged`; returns the names.
fn same_files(whole: &Path, merged: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(whole)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|f| !f.ends_with(".json")) // manifests name their own folder and shard
        .collect();
    names.sort();
    for f in &names {
        let want = std::fs::read(whole.join(f)).unwrap();
        let got = std::fs::read(merged.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(got, want, "{f}: the workflow's merged file differs from the unsharded run");
    }
    names
}

#[test]
fn snakemake_shards_merge_to_the_unsharded_files() {
    let Some(snakemake) = snakemake() else { return };
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/calderon2019_shallow");
    let genome = fixture("genome/hg38_chr1_1mb.fa.gz");
    let dir = tempfile::tempdir().unwrap();
    let options = "--tracks 3,44 --stride 1000 --chunk-windows 100 --engine tract --format bigwig,npz";
    let whole = dir.path().join("whole");
    let mut args = vec!["predict", p(&model), "--genome", p(&genome), "--out", p(&whole)];
    args.extend(options.split(' '));
    ok(&args);
    let config = [format!("model={}", p(&model)), format!("genome={}", p(&genome)), format!("predict_args={options}")];
    let out = run_workflow(&snakemake, dir.path(), &config);
    let names = same_files(&whole, &out.join("merged"));
    for f in ["t0003.bw", "t0044.bw", "predictions.npz"] {
        assert!(names.iter().any(|x| x == f), "{f} missing from the unsharded run: {names:?}");
    }
}

#[test]
fn snakemake_runs_variants_in_shards() {
    let Some(snakemake) = snakemake() else { return };
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/calderon2019_shallow");
    let genome = fixture("genome/hg38_chr1_1mb.fa.gz");
    let vcf = fixture("genome/eqtl_hg38_chr1.vcf");
    let dir = tempfile::tempdir().unwrap();
    let options = "--stats SAD,logSAD --tracks 0,44 --chunk-sites 2 --engine tract --format tsv,parquet";
    let whole = dir.path().join("whole");
    let mut args = vec!["variants", p(&model), "--genome", p(&genome), "--vcf", p(&vcf), "--out", p(&whole)];
    args.extend(options.split(' '));
    ok(&args);
    let config = [
        "command=variants".to_string(),
        format!("model={}", p(&model)),
        format!("genome={}", p(&genome)),
        format!("vcf={}", p(&vcf)),
        format!("predict_args={options}"),
    ];
    let out = run_workflow(&snakemake, dir.path(), &config);
    let names = same_files(&whole, &out.join("merged"));
    assert!(names.iter().any(|x| x == "variants.tsv"), "{names:?}");
}
