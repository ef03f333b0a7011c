//! Writes the seed corpora: every valid base file of the loader tests, framed as fuzz inputs.
//! `cargo +nightly run --release --manifest-path fuzz/Cargo.toml --example make_corpus`

use quiver_fuzz::encode;
use quiver_fuzz::loader_common::{multi_bases, text_bases, tmp_dir, vector_bases, Base};
use std::path::Path;

fn write(target: &str, bases: &[Base]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    std::fs::create_dir_all(&dir).expect("create the corpus directory");
    for b in bases {
        std::fs::write(dir.join(format!("seed-{}", b.name)), encode(&b.sections))
            .expect("write a seed");
    }
    println!("{target}: {} seeds", bases.len());
}

fn main() {
    let dir = tmp_dir("fuzz-corpus");
    let mut v = vector_bases(&dir, 8);
    v.extend(vector_bases(&dir, 16));
    write("vector_index", &v);
    write("multi_vector", &multi_bases(&dir));
    write("text_index", &text_bases(&dir));
    let _ = std::fs::remove_dir_all(&dir);
}
