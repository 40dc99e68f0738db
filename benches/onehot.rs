//! One-hot encoding and window extraction throughput (bp/s).
//!
//! `cargo bench --bench onehot`. The chr1-sized case encodes a 249 Mb synthetic sequence on one
//! thread (target < 0.5 s; tangermeme reports 1.61 s for chr1, gReLU 23 s).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use s2f::genome::onehot::{Encoder, Layout};
use s2f::genome::windows::tile_genome;
use s2f::genome::Fasta;

const CHR1: usize = 248_956_422;

/// A deterministic pseudo-random sequence with soft-masked stretches and N runs.
fn synthetic(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let b = b"ACGT"[(x & 3) as usize];
            match (i / 100_000) % 10 {
                0 => b'N',
                1 => b.to_ascii_lowercase(),
                _ => b,
            }
        })
        .collect()
}

fn encode_chr1(c: &mut Criterion) {
    let seq = synthetic(CHR1);
    let mut g = c.benchmark_group("onehot_chr1");
    g.sample_size(10);
    g.throughput(Throughput::Elements(CHR1 as u64));
    let enc_i8 = Encoder::<i8>::new(0.0).unwrap();
    let mut out_i8 = vec![0i8; 4 * CHR1];
    g.bench_function("int8_L4", |b| b.iter(|| enc_i8.encode_into(&seq, Layout::LengthFirst, &mut out_i8).unwrap()));
    g.bench_function("int8_4L", |b| b.iter(|| enc_i8.encode_into(&seq, Layout::ChannelsFirst, &mut out_i8).unwrap()));
    drop(out_i8);
    let enc_f32 = Encoder::<f32>::new(0.25).unwrap();
    let mut out_f32 = vec![0f32; 4 * CHR1];
    g.bench_function("f32_L4", |b| b.iter(|| enc_f32.encode_into(&seq, Layout::LengthFirst, &mut out_f32).unwrap()));
    g.finish();
}

fn windows_from_bgzip(c: &mut Criterion) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/genome/hg38_chr1_1mb.fa.gz");
    let mut fasta = Fasta::open(path).unwrap();
    let windows = tile_genome(&fasta.chrom_sizes(), None, 131_072, 65_536).unwrap();
    let bp: u64 = windows.iter().map(|w| w.interval.len()).sum();
    let enc = Encoder::<f32>::new(0.0).unwrap();
    let mut seq = Vec::new();
    let mut out = vec![0f32; 4 * 131_072];
    let mut g = c.benchmark_group("windows_hg38_1mb_bgzip");
    g.throughput(Throughput::Elements(bp));
    g.bench_function("fetch+encode_131072bp_f32", |b| {
        b.iter(|| {
            for w in &windows {
                fasta.fetch_into(&w.interval, &mut seq).unwrap();
                enc.encode_into(&seq, Layout::LengthFirst, &mut out).unwrap();
            }
        })
    });
    g.finish();
}

criterion_group!(benches, encode_chr1, windows_from_bgzip);
criterion_main!(benches);
