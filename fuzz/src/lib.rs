//! Shared by the fuzz targets: the input framing and the one check every loaded file must pass.
//!
//! An input is not a raw file: every raw mutation would break a section checksum and only the
//! checksum test would ever run. Instead an input is a list of sections,
//! `[version tweak: u8] ([kind: u32 LE] [len: u32 LE] [len bytes])*`, which the target writes as a
//! container file with valid checksums before loading it. Coverage guidance then explores what
//! lies behind the checksums: counts, offsets, links, postings, values.

#[allow(dead_code, unused_imports)]
#[path = "../../crates/engine/tests/loader_common/mod.rs"]
pub mod loader_common;

use loader_common::{load_and_check, no_panic, Loader, Sections};
use quiver_container::{Format, Payload};
use std::path::PathBuf;

/// Splits an input into its version tweak and sections (a short tail is one last section).
pub fn decode(data: &[u8]) -> (u8, Sections) {
    let Some((&tweak, mut rest)) = data.split_first() else {
        return (0, Vec::new());
    };
    let mut out = Vec::new();
    while rest.len() >= 8 && out.len() < 64 {
        let kind = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let len = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        let body = &rest[8..];
        let take = len.min(body.len());
        out.push((kind, body[..take].to_vec()));
        rest = &body[take..];
    }
    (tweak, out)
}

/// The inverse of [`decode`], used to turn valid files into seeds.
pub fn encode(sections: &Sections) -> Vec<u8> {
    let mut out = vec![0u8];
    for (kind, body) in sections {
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(body);
    }
    out
}

fn scratch() -> PathBuf {
    // tmpfs when there is one: every execution writes a file.
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("quiver-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    dir.join("input")
}

/// Writes the input as a file for `loader` and loads it: any misbehaviour aborts the run.
pub fn run(loader: Loader, data: &[u8]) {
    thread_local! {
        static PATH: PathBuf = scratch();
    }
    let (tweak, sections) = decode(data);
    let format = loader.format();
    // Mostly the current version; sometimes a neighbour, so version checks run too.
    let version = match tweak % 16 {
        15 => format.version + 1,
        14 => format.version.saturating_sub(1),
        _ => format.version,
    };
    PATH.with(|path| {
        let f = Format::new(format.magic, version, format.label);
        let payload: Vec<(u32, Payload<'_>)> = sections
            .iter()
            .map(|(k, b)| (*k, Payload::Borrowed(b)))
            .collect();
        // The writer refuses some section lists (a repeated kind, say): nothing to load then.
        if quiver_container::write_file(path, &f, &payload).is_err() {
            return;
        }
        if let Err(e) = no_panic(|| load_and_check(loader, path)) {
            panic!("{e}");
        }
    });
}
