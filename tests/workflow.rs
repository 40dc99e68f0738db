//! The Snakemake workflow (workflow/Snakefile) run with 3 shards on the hg38 fixture with the
//! demo model: the merged files are byte-identical to one unsharded `s2f predict`.

mod common;

use std::path::Path;
use std::process::Command;

use common::{fixture, ok, p};

#[test]
fn snakemake_shards_merge_to_the_unsharded_files() {
    let python = match std::env::var("S2F_PYTHON") {
        Ok(p) => p,
        Err(_) if std::env::var_os("S2F_REQUIRE_ORT").is_some() => {
            panic!("S2F_REQUIRE_ORT is set but S2F_PYTHON is not")
        }
        Err(_) => return eprintln!("S2F_PYTHON not set: skipping the Snakemake workflow"),
    };
    let snakemake = Path::new(&python).with_file_name("snakemake");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = root.join("models/calderon2019_shallow");
    let genome = fixture("genome/hg38_chr1_1mb.fa.gz");
    let dir = tempfile::tempdir().unwrap();
    let options = "--tracks 3,44 --stride 1000 --chunk-windows 100 --engine tract --format bigwig,npz";
    let whole = dir.path().join("whole");
    let mut args = vec!["predict", p(&model), "--genome", p(&genome), "--out", p(&whole)];
    args.extend(options.split(' '));
    ok(&args);

    let out = dir.path().join("sharded");
    let run = Command::new(&snakemake)
        .args(["-s", p(&root.join("workflow/Snakefile")), "--cores", "2", "--directory", p(dir.path()), "--config"])
        .arg(format!("model={}", p(&model)))
        .arg(format!("genome={}", p(&genome)))
        .arg(format!("out={}", p(&out)))
        .arg("shards=3")
        .arg(format!("predict_args={options}"))
        .arg(format!("s2f={}", env!("CARGO_BIN_EXE_s2f")))
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "snakemake failed:\n{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    for i in 1..3 {
        assert!(out.join(format!("shards/{i}")).is_dir(), "shard {i} ran into its own folder");
    }
    let finals: Vec<String> = std::fs::read_dir(&whole)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for f in ["t0003.bw", "t0044.bw"] {
        assert!(finals.iter().any(|x| x == f), "{f} missing from the unsharded run: {finals:?}");
    }
    let mut compared = 0;
    for f in &finals {
        if f.ends_with(".json") {
            continue; // manifests name their own folder and shard
        }
        let want = std::fs::read(whole.join(f)).unwrap();
        let got = std::fs::read(out.join("tracks").join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(got, want, "{f}: the workflow's merged file differs from the unsharded run");
        compared += 1;
    }
    assert!(compared >= 3, "compared only {compared} files: {finals:?}");
}
