//! Writes a full-size Basenji2-layout Keras `.h5` with random weights, for the conversion
//! benchmark (`scripts/bench_convert.sh`). The layout follows the basenji2_keras_small fixture's
//! rules: `model_weights` with `layer_names` (fixed-length strings, model order), one group per
//! layer with `weight_names`, Conv1D kernels (k, in, out), BatchNormalization gamma/beta/
//! moving_mean/moving_variance, Dense kernel (in, out) and bias; layers without weights carry an
//! empty float64 `weight_names`.
//!
//! usage: make_basenji2_h5 SPEC.json OUT.h5

use hdf5_pure::{AttrValue, FileBuilder};
use s2f::model::ModelSpec;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (spec_path, out) = match args.as_slice() {
        [_, s, o] => (s, o),
        _ => return Err("usage: make_basenji2_h5 SPEC.json OUT.h5".into()),
    };
    let spec = ModelSpec::read(spec_path)?;
    let a = spec.analyze()?;
    // Group slots by layer prefix, in emission order.
    let mut layers: Vec<(String, Vec<(String, Vec<usize>)>)> = Vec::new();
    for s in &a.weights {
        let (prefix, param) = s.name.rsplit_once('.').unwrap();
        match layers.last_mut() {
            Some((p, v)) if p == prefix => v.push((param.to_string(), s.shape.clone())),
            _ => layers.push((prefix.to_string(), vec![(param.to_string(), s.shape.clone())])),
        }
    }
    let mut state: u64 = 20200707;
    let mut rnd = |n: usize, scale: f32| -> Vec<f32> {
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0 * scale
            })
            .collect()
    };
    let mut fb = FileBuilder::new();
    fb.set_attr("keras_version", AttrValue::String("2.15.0".into()));
    fb.set_attr("backend", AttrValue::String("tensorflow".into()));
    let mut mw = fb.create_group("model_weights");
    let (mut nconv, mut nbn) = (0, 0);
    let mut names = vec!["sequence".to_string(), "stochastic_shift".to_string()];
    let mut groups = Vec::new();
    for (_, params) in &layers {
        let is_bn = params[0].0 == "gamma";
        let is_conv = params[0].0 == "weight" && params[0].1.len() == 3;
        let lname = if is_bn {
            nbn += 1;
            if nbn == 1 {
                "batch_normalization".to_string()
            } else {
                format!("batch_normalization_{}", nbn - 1)
            }
        } else if is_conv {
            nconv += 1;
            if nconv == 1 {
                "conv1d".to_string()
            } else {
                format!("conv1d_{}", nconv - 1)
            }
        } else {
            "dense".to_string()
        };
        let mut g = mw.create_group(&lname);
        let mut inner = g.create_group(&lname);
        let mut wnames = Vec::new();
        for (param, shape) in params {
            let (kname, kshape): (&str, Vec<usize>) = match (is_bn, is_conv, param.as_str()) {
                (true, _, "gamma") => ("gamma", shape.clone()),
                (true, _, "beta") => ("beta", shape.clone()),
                (true, _, "mean") => ("moving_mean", shape.clone()),
                (true, _, "var") => ("moving_variance", shape.clone()),
                (_, true, "weight") => ("kernel", vec![shape[2], shape[1], shape[0]]),
                (_, false, "weight") => ("kernel", vec![shape[1], shape[0]]),
                _ => ("bias", shape.clone()),
            };
            let n: usize = kshape.iter().product();
            let mut data = rnd(
                n,
                if kname == "kernel" {
                    (1.0 / kshape[..kshape.len() - 1].iter().product::<usize>() as f32).sqrt()
                } else {
                    0.1
                },
            );
            if kname == "moving_variance" || kname == "gamma" {
                data.iter_mut().for_each(|v| *v = 1.0 + *v);
            }
            let dims: Vec<u64> = kshape.iter().map(|&d| d as u64).collect();
            inner.create_dataset(&format!("{kname}:0")).with_f32_data(&data).with_shape(&dims);
            wnames.push(format!("{lname}/{kname}:0"));
        }
        g.add_group(inner.finish());
        g.set_attr("weight_names", AttrValue::StringArray(wnames));
        groups.push(g.finish());
        names.push(lname);
    }
    for passive in ["sequence", "stochastic_shift"] {
        let mut g = mw.create_group(passive);
        g.set_attr("weight_names", AttrValue::F64Array(vec![]));
        groups.push(g.finish());
    }
    for g in groups {
        mw.add_group(g);
    }
    mw.set_attr("layer_names", AttrValue::StringArray(names));
    fb.add_group(mw.finish());
    fb.write(out)?;
    eprintln!("wrote {out}: {} weighted layers, {} parameters", layers.len(), a.params);
    Ok(())
}
