#!/usr/bin/env bash
# Converts a full-size Basenji2-layout Keras .h5 (30,123,584 random weights, built by
# examples/make_basenji2_h5.rs; not committed) and reports wall time and peak memory against the
# weights' size.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target/bench
cargo build --release --quiet --bin s2f --example make_basenji2_h5
H5=target/bench/basenji2_human_random.h5
[ -f "$H5" ] || ./target/release/examples/make_basenji2_h5 models/basenji2_human.json "$H5"
ls -l "$H5"
rm -rf target/bench/basenji2_converted
/usr/bin/time -f "convert: %e s wall, peak RSS %M KiB" ./target/release/s2f convert --from keras-h5 "$H5" \
  --spec models/basenji2_human.json --out target/bench/basenji2_converted
echo "weights: $((30123584 * 4 / 1024)) KiB (30,123,584 float32)"
ls -l target/bench/basenji2_converted
