//! `s2f inspect`: what a model is — layers, parameters, cost, receptive field, geometry.

use std::path::PathBuf;

use anyhow::Result;
use s2f::model::onnx::{signature, OnnxSignature};
use s2f::model::{ModelSpec, Package};

/// Arguments of `s2f inspect`.
#[derive(clap::Args)]
pub struct Args {
    /// Model: a package folder, a model.json, an .onnx with a sidecar spec, or a bare .onnx.
    model: PathBuf,
}

fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Runs `s2f inspect`.
pub fn run(args: Args) -> Result<()> {
    if args.model.extension().is_some_and(|e| e == "json") && args.model.is_file() {
        let spec = ModelSpec::read(&args.model)?;
        print_spec(&spec, &args.model, None)?;
        return Ok(());
    }
    let pkg = Package::open(&args.model)?;
    let sig = signature(&pkg.onnx, &pkg.path)?;
    let dims = |d: &[Option<i64>]| {
        d.iter().map(|x| x.map(|v| v.to_string()).unwrap_or_else(|| "N".into())).collect::<Vec<_>>().join(", ")
    };
    let Some(spec) = &pkg.spec else {
        println!("bare ONNX model {} (no sidecar spec: tensors are passed through unchanged)", pkg.path.display());
        println!("opset {}, {} nodes, {} parameters", sig.opset, sig.nodes, group(sig.params));
        for (n, d) in &sig.inputs {
            println!("input  {n}: ({})", dims(d));
        }
        for (n, d) in &sig.outputs {
            println!("output {n}: ({})", dims(d));
        }
        return Ok(());
    };
    print_spec(spec, &pkg.path, Some(&sig))
}

fn print_spec(spec: &ModelSpec, path: &std::path::Path, sig: Option<&OnnxSignature>) -> Result<()> {
    let a = spec.analyze()?;
    println!("model {} — {}", spec.name, path.display());
    if !spec.description.is_empty() {
        println!("  {}", spec.description);
    }
    if let Some(src) = &spec.source {
        println!("source: {} {}", src.format, src.files.join(", "));
        for (f, h) in src.files.iter().zip(&src.sha256) {
            println!("  sha256 {h}  {f}");
        }
        for (k, v) in &src.notes {
            println!("  {k}: {v}");
        }
    }
    println!(
        "input: {} bp one-hot A,C,G,T, N = {}; graph input {:?} {:?}",
        spec.input.length, spec.input.n_value, spec.input.onnx_name, spec.input.layout
    );
    for i in &spec.inputs {
        let shape = match i.layout {
            s2f::model::spec::InputLayout::NLC => format!("(N, {}, {})", i.length, i.channels),
            s2f::model::spec::InputLayout::NCL => format!("(N, {}, {})", i.channels, i.length),
        };
        println!("input: {:?} {:?} {shape}, {} channel(s) over {} bp", i.name, i.kind, i.channels, i.length);
    }
    for n in &spec.graph {
        let merge = n.merge.map(|m| format!(" merged by {}", m.name())).unwrap_or_default();
        println!(
            "node {:?}: reads {}{merge}, then {} layer(s) (node.{}.*)",
            n.name,
            n.from.join(", "),
            n.layers.len(),
            n.name
        );
    }
    for h in spec.heads.iter().filter(|h| h.from.is_some()) {
        println!("head {:?} reads {:?}", h.name, spec.head_source(h));
    }
    if spec.has_layers() {
        println!("\n{:<28} {:<34} {:>16} {:>14} {:>10}", "layer", "op", "output (L, C)", "params", "MMAC");
        for r in &a.rows {
            let name = format!("{}{}", "  ".repeat(r.depth), r.name);
            println!(
                "{:<28} {:<34} {:>16} {:>14} {:>10.1}",
                name,
                r.what,
                r.out.to_string(),
                group(r.params),
                r.macs as f64 / 1e6
            );
        }
        println!();
        println!("parameters: {}", group(a.params));
        if a.macs >= 1_000_000_000 {
            println!("MACs per sequence: {:.1} G ({})", a.macs as f64 / 1e9, group(a.macs));
        } else {
            println!("MACs per sequence: {:.1} M ({})", a.macs as f64 / 1e6, group(a.macs));
        }
    } else if let Some(sig) = sig {
        println!("foreign ONNX: opset {}, {} nodes, {} parameters", sig.opset, sig.nodes, group(sig.params));
    }
    for ((name, g), rf) in a.heads.iter().zip(&a.receptive_field) {
        let head = spec.heads.iter().find(|h| &h.name == name);
        let n_named = head.map(|h| h.tracks.len()).unwrap_or(0);
        println!(
            "head {name}: output (N, {}, {}); bin i covers window [{} + {}·i, +{}) bp; receptive field {} bp{}",
            g.bins,
            g.tracks,
            g.offset,
            g.bin_size,
            g.bin_size,
            rf,
            if n_named > 0 { format!("; {n_named} named tracks") } else { String::new() }
        );
    }
    Ok(())
}
