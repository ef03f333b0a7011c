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
    write_filter_seeds();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Persisted attribute and payload stores for the `filter` target (modes 2 and 3); its filter
/// and record seeds are written by hand.
fn write_filter_seeds() {
    use quiver_filter::{AttributeStore, PayloadStore, Schema};
    let schema = Schema::from_json(
        r#"{"lang":"keyword","tags":"keyword[]","year":"int","price":"float","inStock":"bool"}"#,
    )
    .expect("schema");
    let mut attrs = AttributeStore::new(schema);
    let batch = r#"[{"lang":"en","tags":["a","b"],"year":2001,"price":2.5,"inStock":true},null,{"year":-4}]"#;
    let recs = attrs.parse_batch(batch, 3).expect("records");
    let mut payloads = PayloadStore::new();
    for (i, r) in recs.iter().enumerate() {
        attrs.set(i as u32 * 2, r);
        payloads
            .set(i as u32, br#"{"title":"x","n":[1,2]}"#)
            .expect("payload");
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join("filter");
    std::fs::create_dir_all(&dir).expect("create the corpus directory");
    let mut a = vec![2u8];
    a.extend(attrs.encode());
    std::fs::write(dir.join("seed-attributes"), a).expect("write a seed");
    let mut p = vec![3u8];
    p.extend(payloads.encode());
    std::fs::write(dir.join("seed-payloads"), p).expect("write a seed");
    println!("filter: 2 decoder seeds");
}
