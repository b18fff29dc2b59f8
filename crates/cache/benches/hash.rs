//! How fast the cache hashes: one large file on one core, several large files on all cores,
//! and many small files, beside `openssl dgst -sha256` and `sha256sum` on the same file in
//! the same run.
//!
//! Not a timed test: it prints figures. Run with `cargo bench -p cache --bench hash`.
//! `HASH_MIB` sets the large file's size (default 256 MiB; the parallel case uses one such
//! file per core), `BENCH_DIR` where the files go (default: the system temp folder). Every
//! figure is the best of 5 runs with the files in the page cache, so it is the hashing
//! speed, not the disk's.
//!
//! The bench checks its results (its digest equals openssl's, and a tree's manifest lists
//! every file) and exits non-zero if they are wrong.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fs;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use cache::{IgnoreRules, hash_file, hash_tree};

const RUNS: usize = 5;
const SMALL_FILES: usize = 10_000;
const SMALL_BYTES: usize = 4096;

/// Writes `bytes` of pseudo-random data (xorshift, so no compressible pattern) to `path`.
fn write_random(path: &Path, bytes: usize, seed: u64) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::with_capacity(1 << 20, fs::File::create(path)?);
    let mut x = seed | 1;
    let mut block = vec![0u8; 1 << 20];
    let mut left = bytes;
    while left > 0 {
        for chunk in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(block.len());
        f.write_all(&block[..n])?;
        left -= n;
    }
    f.flush()
}

/// The best wall time of [`RUNS`] runs of `f`, after one warm-up run.
fn best<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut out = f();
    let mut best = Duration::MAX;
    for _ in 0..RUNS {
        let t = Instant::now();
        out = f();
        best = best.min(t.elapsed());
    }
    (best, out)
}

fn gbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e9
}

/// A peer tool's best time on `file` and the first word it printed (the hex digest), or
/// `None` when the tool is not installed.
fn peer(argv: &[&str], file: &Path) -> Option<(Duration, String)> {
    let run = || Command::new(argv[0]).args(&argv[1..]).arg(file).output().ok();
    run().filter(|o| o.status.success())?;
    let (d, out) = best(run);
    let text = String::from_utf8_lossy(&out?.stdout).into_owned();
    // `sha256sum`: "HEX  FILE"; `openssl dgst -r`: "HEX *FILE".
    Some((d, text.split_whitespace().next()?.to_owned()))
}

fn main() -> ExitCode {
    let mib: usize = std::env::var("HASH_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    let base = std::env::var_os("BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let dir = match tempfile::tempdir_in(&base) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("hash bench: cannot create a folder in {}: {e}", base.display());
            return ExitCode::FAILURE;
        }
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let bytes = mib << 20;
    let large = dir.path().join("large.bin");
    let many = dir.path().join("many");
    let small = dir.path().join("small");
    let setup = (|| -> std::io::Result<()> {
        write_random(&large, bytes, 1)?;
        fs::create_dir(&many)?;
        for i in 0..cores {
            write_random(&many.join(format!("part{i}.bin")), bytes, i as u64 + 2)?;
        }
        fs::create_dir(&small)?;
        for i in 0..SMALL_FILES {
            write_random(&small.join(format!("f{i:05}.bin")), SMALL_BYTES, i as u64 + 100)?;
        }
        Ok(())
    })();
    if let Err(e) = setup {
        eprintln!("hash bench: writing the test files: {e}");
        return ExitCode::FAILURE;
    }

    println!("hashing on {cores} cores, files in {}, best of {RUNS}", base.display());
    println!("| what | time | throughput | per core |");
    println!("|---|---:|---:|---:|");
    let (d, digest) = best(|| hash_file(&large));
    let Ok(digest) = digest else {
        eprintln!("hash bench: hashing {} failed", large.display());
        return ExitCode::FAILURE;
    };
    let ours = gbps(bytes, d);
    println!(
        "| one {mib} MiB file, `cache::hash_file` | {d:.2?} | {ours:.2} GB/s | {ours:.2} GB/s |"
    );

    let (d, tree) = best(|| hash_tree(&many, IgnoreRules::None));
    let total = bytes * cores;
    let all = gbps(total, d);
    println!(
        "| {cores} × {mib} MiB, `cache::hash_tree` | {d:.2?} | {all:.2} GB/s | {:.2} GB/s |",
        all / cores as f64
    );
    if tree.as_ref().map_or(true, |m| m.entries.len() != cores) {
        eprintln!("hash bench: the tree of large files does not list {cores} files");
        return ExitCode::FAILURE;
    }

    let (d, tree) = best(|| hash_tree(&small, IgnoreRules::None));
    println!(
        "| {SMALL_FILES} × {} KiB, `cache::hash_tree` | {d:.2?} | {:.0} files/s | |",
        SMALL_BYTES / 1024,
        SMALL_FILES as f64 / d.as_secs_f64()
    );
    if tree.as_ref().map_or(true, |m| m.entries.len() != SMALL_FILES) {
        eprintln!("hash bench: the tree of small files does not list {SMALL_FILES} files");
        return ExitCode::FAILURE;
    }

    let mut wrong = false;
    for (name, argv) in [
        ("openssl dgst -sha256", &["openssl", "dgst", "-sha256", "-r"][..]),
        ("sha256sum", &["sha256sum"][..]),
    ] {
        match peer(argv, &large) {
            Some((d, hex)) => {
                let theirs = gbps(bytes, d);
                println!(
                    "| one {mib} MiB file, `{name}` | {d:.2?} | {theirs:.2} GB/s | {theirs:.2} GB/s (ours ÷ theirs: {:.2}×) |",
                    ours / theirs
                );
                if hex != digest.to_hex() {
                    eprintln!(
                        "hash bench: {name} says {hex}, cache::hash_file {}",
                        digest.to_hex()
                    );
                    wrong = true;
                }
            }
            None => println!("| one {mib} MiB file, `{name}` | not installed | | |"),
        }
    }
    if wrong { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
