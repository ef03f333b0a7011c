//! Crafted index files: valid containers (checksums recomputed) whose contents were changed
//! the way a hostile or buggy writer would. Every one must load into an index that behaves
//! (searches return min(k, live) stored keys with finite scores) or fail with a coded error;
//! files that are internally inconsistent must fail.

mod loader_common;

use loader_common::*;
use std::path::Path;

const META: u32 = 1;
const KEYS: u32 = 2;
const VECTORS: u32 = 3;
const LEVEL0: u32 = 4;
const UPPER: u32 = 5;
const FREE: u32 = 7;
const MV_ENCODER: u32 = 101;
const MV_TOKENS: u32 = 102;
const MV_SLOT_KEYS: u32 = 103;

/// One crafted variant: what changed, the sections, the version written, and whether the
/// change makes the file inconsistent (it must then be rejected).
struct Case {
    what: String,
    sections: Sections,
    version: u32,
    must_reject: bool,
}

fn word(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn set_word(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn u32_values(v: u32) -> Vec<u32> {
    vec![
        0,
        1,
        v.wrapping_add(1),
        v.wrapping_sub(1),
        v.wrapping_mul(2),
        u32::MAX,
        0x8000_0000,
    ]
}

fn with(base: &Sections, kind: u32, f: impl FnOnce(&mut Vec<u8>)) -> Sections {
    let mut s = base.clone();
    if let Some((_, b)) = s.iter_mut().find(|(k, _)| *k == kind) {
        f(b);
    }
    s
}

fn get(s: &Sections, kind: u32) -> Option<&Vec<u8>> {
    s.iter().find(|(k, _)| *k == kind).map(|(_, b)| b)
}

/// Generic variants of any file: every META field, every section's length and a spread of
/// its words, each section removed, other versions.
fn generic_cases(base: &Base) -> Vec<Case> {
    let s = &base.sections;
    let version = base.loader.format().version;
    let mut out = Vec::new();
    let mut push = |what: String, sections: Sections| {
        out.push(Case {
            what,
            sections,
            version,
            must_reject: false,
        })
    };
    for (kind, body) in s {
        let kind = *kind;
        let n = body.len();
        // Lengths.
        for (label, new_len) in [
            ("-1", n.saturating_sub(1)),
            ("-4", n.saturating_sub(4)),
            ("+1", n + 1),
            ("+4", n + 4),
            ("x2", n * 2),
            ("empty", 0),
        ] {
            push(
                format!("section {kind} length {label}"),
                with(s, kind, |b| {
                    if new_len <= b.len() {
                        b.truncate(new_len);
                    } else if label == "x2" {
                        let copy = b.clone();
                        b.extend_from_slice(&copy);
                    } else {
                        b.resize(new_len, 0);
                    }
                }),
            );
        }
        push(
            format!("section {kind} removed"),
            s.iter().filter(|(k, _)| *k != kind).cloned().collect(),
        );
        // Words: every word of META (the counts, dims, entry point), a spread elsewhere.
        let words = n / 4;
        let positions: Vec<usize> = if kind == META || words <= 24 {
            (0..words).collect()
        } else {
            let mut p: Vec<usize> = (0..12).collect();
            p.extend((1..=8).map(|i| i * words / 9));
            p.extend([words - 2, words - 1]);
            p
        };
        for w in positions {
            let v = word(body, w * 4);
            for nv in u32_values(v) {
                if nv == v {
                    continue;
                }
                push(
                    format!("section {kind} word {w}: {v} -> {nv}"),
                    with(s, kind, |b| set_word(b, w * 4, nv)),
                );
            }
        }
        // u64 fields as a whole (the counts are u64 in both META layouts).
        if kind == META {
            for at in (0..n.saturating_sub(7)).step_by(8) {
                let v = u64::from_le_bytes(body[at..at + 8].try_into().unwrap());
                for nv in [
                    v.wrapping_add(1),
                    v.wrapping_sub(1),
                    v.wrapping_mul(2),
                    u64::MAX,
                    1 << 40,
                ] {
                    push(
                        format!("META u64 at {at}: {v} -> {nv}"),
                        with(s, kind, |b| {
                            b[at..at + 8].copy_from_slice(&nv.to_le_bytes())
                        }),
                    );
                }
            }
            for at in [4usize, 5] {
                for nv in 0u8..4 {
                    push(
                        format!("META byte {at} -> {nv}"),
                        with(s, kind, |b| b[at] = nv),
                    );
                }
            }
        }
    }
    for v in [0, 1, version + 1, u32::MAX] {
        if v != version {
            out.push(Case {
                what: format!("version {v}"),
                sections: s.clone(),
                version: v,
                must_reject: v > version || v == 0,
            });
        }
    }
    out
}

/// Variants that make a VectorIndex file inconsistent; each must be rejected.
fn vector_cases(base: &Base, other_dim: &[Base]) -> Vec<Case> {
    let s = &base.sections;
    let meta = get(s, META).unwrap().clone();
    let dim = word(&meta, 0) as usize;
    let metric = meta[4];
    let hnsw = meta[5] == 0;
    let slots = u64::from_le_bytes(meta[32..40].try_into().unwrap()) as usize;
    let mut out = Vec::new();
    let mut bad = |what: &str, sections: Sections| {
        out.push(Case {
            what: what.into(),
            sections,
            version: 2,
            must_reject: true,
        })
    };
    if let Some(v) = get(s, VECTORS) {
        for (label, x) in [
            ("NaN", f32::NAN),
            ("+inf", f32::INFINITY),
            ("-inf", f32::NEG_INFINITY),
        ] {
            for at in [0, v.len() / 8 * 4, v.len() - 4] {
                bad(
                    &format!("{label} at byte {at} of VECTORS"),
                    with(s, VECTORS, |b| {
                        b[at..at + 4].copy_from_slice(&x.to_le_bytes())
                    }),
                );
            }
        }
        if metric == 2 {
            bad(
                "cosine vectors scaled by 2",
                with(s, VECTORS, |b| {
                    for c in b.chunks_exact_mut(4) {
                        let x = f32::from_le_bytes(c.try_into().unwrap()) * 2.0;
                        c.copy_from_slice(&x.to_le_bytes());
                    }
                }),
            );
        }
    }
    if hnsw {
        bad(
            "entry point none on a non-empty graph",
            with(s, META, |b| {
                set_word(b, 48, u32::MAX);
                set_word(b, 52, u32::MAX);
            }),
        );
        let stride = 2 * word(&meta, 8) as usize + 1;
        let l0 = get(s, LEVEL0).unwrap();
        // The first live node with links.
        let node = (0..slots).find(|&i| word(l0, i * stride * 4) >= 2).unwrap();
        let at = node * stride * 4;
        bad(
            "level-0 link = node count",
            with(s, LEVEL0, |b| set_word(b, at + 4, slots as u32)),
        );
        bad(
            "level-0 link to itself",
            with(s, LEVEL0, |b| set_word(b, at + 4, node as u32)),
        );
        let first = word(l0, at + 4);
        bad(
            "level-0 link twice",
            with(s, LEVEL0, |b| set_word(b, at + 8, first)),
        );
        let up = get(s, UPPER).unwrap();
        let offs: Vec<u32> = (0..=slots).map(|i| word(up, i * 4)).collect();
        if let Some(i) = (1..slots).find(|&i| offs[i] > offs[i - 1]) {
            bad(
                "upper offsets out of order",
                with(s, UPPER, |b| {
                    set_word(b, i * 4, offs[i - 1]);
                    set_word(b, (i - 1) * 4, offs[i]);
                }),
            );
        }
        if let Some(free) = get(s, FREE).filter(|f| !f.is_empty()) {
            let f0 = word(free, 0);
            bad(
                "free slot listed twice",
                with(s, FREE, |b| {
                    b.extend_from_slice(&f0.to_le_bytes());
                }),
            );
        }
        // A live slot listed as free.
        let live_slot = (0..slots).find(|&i| word(l0, i * stride * 4) >= 1).unwrap() as u32;
        bad(
            "live slot listed as free",
            with(s, FREE, |b| b.extend_from_slice(&live_slot.to_le_bytes())),
        );
    }
    let keys = get(s, KEYS).unwrap();
    let k0 = word(keys, 0);
    // Duplicate key among live slots: copy slot 0's key onto every other slot in turn
    // until one is live (slot 0 is live in every base file).
    bad(
        "every key the same",
        with(s, KEYS, |b| {
            for c in b.chunks_exact_mut(4) {
                c.copy_from_slice(&k0.to_le_bytes());
            }
        }),
    );
    // Sections of a file of another dimension (same name otherwise).
    let twin = base.name.replacen(&format!("v{dim}-"), "", 1);
    if let Some(o) = other_dim
        .iter()
        .find(|o| o.name.split_once('-').map(|x| x.1) == Some(twin.as_str()))
    {
        for (kind, body) in &o.sections {
            let Some(mine) = get(s, *kind) else { continue };
            // A section of the same size from a file with as many slots (graph links,
            // padded binary codes) is a consistent file holding other data: it must only
            // behave (checked with the generic cases below).
            if *kind == META || mine.len() == body.len() {
                continue;
            }
            bad(
                &format!("section {kind} from a {} file", o.name),
                with(s, *kind, |b| b.clone_from(body)),
            );
        }
        bad(
            &format!("META from a {} file", o.name),
            with(s, META, |b| b.clone_from(get(&o.sections, META).unwrap())),
        );
    }
    out
}

/// Same-size sections from a file of another dimension: consistent files holding other data,
/// which must load and behave (or be rejected).
fn same_size_splices(base: &Base, other_dim: &[Base]) -> Vec<Case> {
    let s = &base.sections;
    let dim = word(get(s, META).unwrap(), 0);
    let twin = base.name.replacen(&format!("v{dim}-"), "", 1);
    let mut out = Vec::new();
    for o in other_dim
        .iter()
        .filter(|o| o.name.split_once('-').map(|x| x.1) == Some(twin.as_str()))
    {
        for (kind, body) in &o.sections {
            if get(s, *kind).is_some_and(|m| m.len() == body.len() && m != body) {
                out.push(Case {
                    what: format!("same-size section {kind} from a {} file", o.name),
                    sections: with(s, *kind, |b| b.clone_from(body)),
                    version: 2,
                    must_reject: false,
                });
            }
        }
    }
    out
}

/// MultiVectorIndex variants that must be rejected.
fn multi_cases(base: &Base) -> Vec<Case> {
    let s = &base.sections;
    let mut out = Vec::new();
    let mut bad = |what: &str, sections: Sections| {
        out.push(Case {
            what: what.into(),
            sections,
            version: 2,
            must_reject: true,
        })
    };
    let sk = get(s, MV_SLOT_KEYS).unwrap();
    let k0 = word(sk, 0);
    bad(
        "token slot key repeated",
        with(s, MV_SLOT_KEYS, |b| set_word(b, 4, k0)),
    );
    bad(
        "token slot key not in the FDE index",
        with(s, MV_SLOT_KEYS, |b| set_word(b, 0, 999_999)),
    );
    bad(
        "token slot dropped",
        with(s, MV_SLOT_KEYS, |b| b.truncate(b.len() - 4)),
    );
    // Token store header: dim at 12.
    let t = get(s, MV_TOKENS).unwrap();
    let tdim = word(t, 12);
    bad(
        "token dim doubled",
        with(s, MV_TOKENS, |b| set_word(b, 12, tdim * 2)),
    );
    // Encoder records that imply other or huge encoders, with their own checksum valid.
    for (what, dim, k_sim, d_proj, reps, final_dim) in [
        (
            "encoder of another token dim",
            32u32,
            2u32,
            8u32,
            2u32,
            0u32,
        ),
        ("encoder of another FDE dim", 16, 2, 8, 3, 0),
        ("huge encoder (count-sketch)", 16, 0, 16, 4096, 64),
        ("huge encoder (projection)", 64, 0, 64, 16_000, 64),
    ] {
        bad(
            what,
            with(s, MV_ENCODER, |b| {
                *b = encoder_record(dim, k_sim, d_proj, reps, final_dim)
            }),
        );
    }
    out
}

/// An FDE encoder record (the muvera format: header, matrices, xxh3 checksum) with the given
/// parameters and zero/in-range matrices.
fn encoder_record(dim: u32, k_sim: u32, d_proj: u32, reps: u32, final_dim: u32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"QFDE");
    b.extend_from_slice(&quiver_muvera::fde::ENCODER_VERSION.to_le_bytes());
    for v in [dim, k_sim, d_proj, reps, final_dim, 1] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&5u64.to_le_bytes());
    let (dim, k, d, reps) = (dim as usize, k_sim as usize, d_proj as usize, reps as usize);
    let hyper = reps * k * dim;
    b.extend(std::iter::repeat_n(0x3f80_0000u32.to_le_bytes(), hyper).flatten());
    b.resize(b.len() + (reps * d * dim).div_ceil(8), 0);
    if final_dim > 0 {
        let concat = reps * (1 << k) * if d > 0 { d } else { dim };
        b.resize(b.len() + 4 * concat, 0);
    }
    let sum = xxhash_rust::xxh3::xxh3_64(&b);
    b.extend_from_slice(&sum.to_le_bytes());
    b
}

struct Tally {
    rejected: usize,
    loaded: usize,
    failures: Vec<String>,
}

fn run(dir: &Path, base: &Base, cases: Vec<Case>, t: &mut Tally) {
    let path = dir.join(format!("{}-crafted", base.name));
    let format = base.loader.format();
    for case in cases {
        write_sections(&path, &format, case.version, &case.sections);
        match no_panic(|| load_and_check(base.loader, &path)) {
            Ok(Outcome::Rejected) => t.rejected += 1,
            Ok(Outcome::Loaded) if case.must_reject => t
                .failures
                .push(format!("{}: {} loaded", base.name, case.what)),
            Ok(Outcome::Loaded) => t.loaded += 1,
            Err(e) => t
                .failures
                .push(format!("{}: {}: {e}", base.name, case.what)),
        }
    }
}

fn report(what: &str, t: &Tally) {
    eprintln!(
        "{what}: {} coded errors, {} correct loads, {} failures",
        t.rejected,
        t.loaded,
        t.failures.len()
    );
    assert!(
        t.failures.is_empty(),
        "{} failures:\n{}",
        t.failures.len(),
        t.failures.join("\n")
    );
}

#[test]
fn crafted_vector_index_files() {
    let dir = tmp_dir("crafted-vector");
    let bases = vector_bases(&dir, 16);
    let others = vector_bases(&dir, 8);
    let mut t = Tally {
        rejected: 0,
        loaded: 0,
        failures: Vec::new(),
    };
    for base in &bases {
        // The unchanged file loads.
        let path = dir.join(format!("{}-as-is", base.name));
        write_sections(&path, &INDEX, 2, &base.sections);
        assert_eq!(
            load_and_check(base.loader, &path),
            Ok(Outcome::Loaded),
            "{}",
            base.name
        );
        let mut cases = generic_cases(base);
        cases.extend(vector_cases(base, &others));
        cases.extend(same_size_splices(base, &others));
        run(&dir, base, cases, &mut t);
    }
    report("VectorIndex", &t);
}

#[test]
fn crafted_multi_vector_files() {
    let dir = tmp_dir("crafted-multi");
    let mut t = Tally {
        rejected: 0,
        loaded: 0,
        failures: Vec::new(),
    };
    for base in &multi_bases(&dir) {
        let path = dir.join(format!("{}-as-is", base.name));
        write_sections(&path, &INDEX, 2, &base.sections);
        assert_eq!(
            load_and_check(base.loader, &path),
            Ok(Outcome::Loaded),
            "{}",
            base.name
        );
        let mut cases = generic_cases(base);
        cases.extend(multi_cases(base));
        run(&dir, base, cases, &mut t);
    }
    report("MultiVectorIndex", &t);
}

#[test]
fn crafted_text_files() {
    let dir = tmp_dir("crafted-text");
    let mut t = Tally {
        rejected: 0,
        loaded: 0,
        failures: Vec::new(),
    };
    for base in &text_bases(&dir) {
        let path = dir.join(format!("{}-as-is", base.name));
        write_sections(&path, &TEXT, 1, &base.sections);
        assert_eq!(load_and_check(base.loader, &path), Ok(Outcome::Loaded));
        run(&dir, base, generic_cases(base), &mut t);
    }
    report("TextIndex", &t);
}

#[test]
fn crafted_sparse_files() {
    let dir = tmp_dir("crafted-sparse");
    let mut t = Tally {
        rejected: 0,
        loaded: 0,
        failures: Vec::new(),
    };
    for base in &sparse_bases(&dir) {
        let path = dir.join(format!("{}-as-is", base.name));
        write_sections(&path, &SPARSE, 1, &base.sections);
        assert_eq!(load_and_check(base.loader, &path), Ok(Outcome::Loaded));
        run(&dir, base, generic_cases(base), &mut t);
    }
    report("SparseIndex", &t);
}
