#![no_main]
//! The filter compiler and the metadata decoders. The first byte picks what the rest is:
//! a filter (parsed against a fixed schema and evaluated over a fixed store), a batch of
//! attribute records, a persisted attribute store, or a persisted payload store.

use quiver_filter::{AttributeStore, Filter, PayloadStore, Schema};
use std::sync::OnceLock;

const SCHEMA: &str =
    r#"{"lang":"keyword","tags":"keyword[]","year":"int","price":"float","inStock":"bool"}"#;

fn store() -> &'static (Schema, AttributeStore, Vec<u8>) {
    static STORE: OnceLock<(Schema, AttributeStore, Vec<u8>)> = OnceLock::new();
    STORE.get_or_init(|| {
        let schema = Schema::from_json(SCHEMA).expect("the fixed schema parses");
        let mut s = AttributeStore::new(schema.clone());
        let langs = ["en", "fr", "de"];
        let records: Vec<String> = (0..64)
            .map(|i| {
                format!(
                    r#"{{"lang":"{}","tags":["t{}","t{}"],"year":{},"price":{},"inStock":{}}}"#,
                    langs[i % 3],
                    i % 5,
                    i % 7,
                    1990 + i,
                    i as f64 * 1.5 - 20.0,
                    i % 2 == 0
                )
            })
            .collect();
        let batch = format!("[{},null,{{}}]", records.join(","));
        let recs = s.parse_batch(&batch, 66).expect("the fixed records parse");
        for (slot, r) in recs.iter().enumerate() {
            s.set(slot as u32 * 3, r);
        }
        let bytes = s.encode();
        (schema, s, bytes)
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (schema, s, _) = store();
    match mode % 4 {
        0 => {
            if let Ok(text) = std::str::from_utf8(rest) {
                if let Ok(f) = Filter::parse(text, schema) {
                    let hits = f.evaluate(s);
                    assert!(
                        hits.is_subset(s.live()),
                        "a filter matched a slot that is not live"
                    );
                }
            }
        }
        1 => {
            if let Ok(text) = std::str::from_utf8(rest) {
                let _ = s.parse_batch(text, 3);
            }
        }
        2 => {
            if let Ok(decoded) = AttributeStore::decode(rest, schema, 1 << 20) {
                // What loads must be usable and save to bytes that load again.
                let again = AttributeStore::decode(&decoded.encode(), schema, 1 << 20);
                assert!(again.is_ok(), "a decoded store did not round-trip");
                let _ = decoded.get_json(0);
            }
        }
        _ => {
            if let Ok(p) = PayloadStore::decode(rest) {
                let _ = p.get(0);
                assert!(
                    PayloadStore::decode(&p.encode()).is_ok(),
                    "payloads did not round-trip"
                );
            }
        }
    }
});
