//! Seeded mutation fuzzing of every file loader, on stable Rust: random byte flips,
//! truncations and insertions of whole files, and structure-aware mutations of sections
//! re-written with valid checksums. Each mutated file is loaded (plain and mapped where that
//! applies) and, if it loads, searched; any panic or misbehaviour fails with the seed and
//! iteration that reproduce it.
//!
//! `QUIVER_FUZZ_ITERS` sets the iterations per loader (default 2000); `QUIVER_FUZZ_SEED` the
//! seed (default 1); `QUIVER_FUZZ_SECS`, if set, stops each loader's run after that many
//! seconds (the report gives the iterations done).

mod loader_common;

use loader_common::*;
use std::path::Path;
use std::time::Instant;

fn iters() -> usize {
    std::env::var("QUIVER_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

fn time_budget() -> Option<f64> {
    std::env::var("QUIVER_FUZZ_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
}

fn seed() -> u64 {
    std::env::var("QUIVER_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

const INTERESTING: [u32; 10] = [0, 1, 2, 3, 4, 63, 64, 0x7fff_ffff, 0x8000_0000, u32::MAX];

/// Mutates one section in place.
fn mutate_section(r: &mut Rng, b: &mut Vec<u8>, donors: &[&Vec<u8>]) {
    match r.below(8) {
        // Bit flips.
        0 => {
            for _ in 0..1 + r.below(4) {
                if !b.is_empty() {
                    let i = r.below(b.len());
                    b[i] ^= 1 << r.below(8);
                }
            }
        }
        // An interesting or nudged word.
        1 | 2 => {
            if b.len() >= 4 {
                let at = r.below(b.len() / 4) * 4;
                let v = u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or([0; 4]));
                let nv = match r.below(4) {
                    0 => INTERESTING[r.below(INTERESTING.len())],
                    1 => v.wrapping_add(1 + r.below(3) as u32),
                    2 => v.wrapping_sub(1 + r.below(3) as u32),
                    _ => v.wrapping_mul(2),
                };
                b[at..at + 4].copy_from_slice(&nv.to_le_bytes());
            }
        }
        // A special float.
        3 => {
            if b.len() >= 4 {
                let at = r.below(b.len() / 4) * 4;
                let x = [f32::NAN, f32::INFINITY, -0.0, 1e30, 1e-40][r.below(5)];
                b[at..at + 4].copy_from_slice(&x.to_le_bytes());
            }
        }
        // Length changes.
        4 => {
            let n = b.len();
            let new = match r.below(4) {
                0 => n.saturating_sub(1 + r.below(8)),
                1 => n + 1 + r.below(8),
                2 => r.below(n + 1),
                _ => n * 2,
            };
            if new <= n {
                b.truncate(new);
            } else {
                let fill = r.below(2) as u8 * 0xff;
                b.resize(new, fill);
            }
        }
        // Two words swapped.
        5 => {
            if b.len() >= 8 {
                let (i, j) = (r.below(b.len() / 4) * 4, r.below(b.len() / 4) * 4);
                for k in 0..4 {
                    b.swap(i + k, j + k);
                }
            }
        }
        // Bytes copied from elsewhere in the section.
        6 => {
            if b.len() >= 8 {
                let len = 1 + r.below(16.min(b.len() / 2));
                let (from, to) = (r.below(b.len() - len), r.below(b.len() - len));
                b.copy_within(from..from + len, to);
            }
        }
        // Replaced by the same section of another file.
        _ => {
            if !donors.is_empty() {
                b.clone_from(donors[r.below(donors.len())]);
            }
        }
    }
}

/// One mutated file from `base`, written to `path`.
fn mutate(r: &mut Rng, base: &Base, bases: &[Base], path: &Path) {
    let format = base.loader.format();
    match r.below(10) {
        // Raw mutations of the whole file (the checksums then mostly catch them).
        0..=1 => {
            write_sections(path, &format, format.version, &base.sections);
            let mut bytes = std::fs::read(path).unwrap();
            match r.below(3) {
                0 => {
                    for _ in 0..1 + r.below(8) {
                        let i = r.below(bytes.len());
                        bytes[i] ^= 1 << r.below(8);
                    }
                }
                1 => bytes.truncate(r.below(bytes.len())),
                _ => {
                    let at = r.below(bytes.len());
                    let extra: Vec<u8> = (0..1 + r.below(64)).map(|_| r.next() as u8).collect();
                    bytes.splice(at..at, extra);
                }
            }
            std::fs::write(path, bytes).unwrap();
        }
        // Structure-aware: sections changed, removed or added, checksums recomputed.
        _ => {
            let mut s = base.sections.clone();
            for _ in 0..1 + r.below(3) {
                match r.below(12) {
                    0 if s.len() > 1 => {
                        s.remove(r.below(s.len()));
                    }
                    1 => {
                        let o = &bases[r.below(bases.len())].sections;
                        let (k, b) = &o[r.below(o.len())];
                        if let Some(mine) = s.iter_mut().find(|(m, _)| m == k) {
                            mine.1.clone_from(b);
                        } else {
                            s.push((*k, b.clone()));
                        }
                    }
                    _ => {
                        let i = r.below(s.len());
                        let kind = s[i].0;
                        let donors: Vec<&Vec<u8>> = bases
                            .iter()
                            .flat_map(|o| o.sections.iter())
                            .filter(|(k, _)| *k == kind)
                            .map(|(_, b)| b)
                            .collect();
                        mutate_section(r, &mut s[i].1, &donors);
                    }
                }
            }
            let version = if r.below(20) == 0 {
                r.below(4) as u32
            } else {
                format.version
            };
            write_sections(path, &format, version, &s);
        }
    }
}

fn fuzz(name: &str, bases: &[Base], dir: &Path) {
    let (n, seed) = (iters(), seed());
    let path = dir.join("mutant");
    let mut counts = [0usize; 2];
    let start = Instant::now();
    let budget = time_budget();
    let mut done = 0;
    for i in 0..n {
        if budget.is_some_and(|b| start.elapsed().as_secs_f64() >= b) {
            break;
        }
        done += 1;
        // Every iteration has its own stream, so one can be replayed from (seed, iteration).
        let mut r = Rng(seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let base = &bases[r.below(bases.len())];
        mutate(&mut r, base, bases, &path);
        match no_panic(|| load_and_check(base.loader, &path)) {
            Ok(Outcome::Rejected) => counts[0] += 1,
            Ok(Outcome::Loaded) => counts[1] += 1,
            Err(e) => {
                let keep = dir.join(format!("failure-{seed}-{i}"));
                let _ = std::fs::copy(&path, &keep);
                panic!(
                    "{name}: QUIVER_FUZZ_SEED={seed} iteration {i} ({}): {e}; file kept at {}",
                    base.name,
                    keep.display()
                );
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "{name}: {done} execs in {secs:.1}s ({:.0}/s), seed {seed}: {} rejected, {} loaded",
        done as f64 / secs.max(1e-9),
        counts[0],
        counts[1]
    );
}

#[test]
fn fuzz_vector_index_loader() {
    let dir = tmp_dir("fuzz-vector");
    let mut bases = vector_bases(&dir, 16);
    bases.extend(vector_bases(&dir, 8));
    fuzz("VectorIndex", &bases, &dir);
}

#[test]
fn fuzz_multi_vector_loader() {
    let dir = tmp_dir("fuzz-multi");
    fuzz("MultiVectorIndex", &multi_bases(&dir), &dir);
}

#[test]
fn fuzz_text_index_loader() {
    let dir = tmp_dir("fuzz-text");
    fuzz("TextIndex", &text_bases(&dir), &dir);
}

#[test]
fn fuzz_sparse_index_loader() {
    let dir = tmp_dir("fuzz-sparse");
    fuzz("SparseIndex", &sparse_bases(&dir), &dir);
}
