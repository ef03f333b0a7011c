//! Property tests: `Filter::evaluate` against a naive per-row evaluator, over random
//! schemas, records, update sequences and filters, with fixed seeds.

mod common;

use std::collections::BTreeMap;

use common::*;
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use quiver_filter::{AttributeStore, Filter, RoaringBitmap, Schema};
use serde_json::Value;

fn config(cases: u32, seed: u64) -> ProptestConfig {
    ProptestConfig {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Checks `filters` random filters against the naive evaluator over `rows`.
fn check_filters(
    rng: &mut SplitMix,
    schema: &Schema,
    fields: &[(String, quiver_filter::FieldType)],
    store: &AttributeStore,
    rows: &BTreeMap<u32, Value>,
    filters: usize,
) -> Result<(), TestCaseError> {
    let types = types_of(fields);
    for _ in 0..filters {
        let fj = random_filter(rng, fields, 1);
        let f = Filter::parse(&fj.to_string(), schema)
            .map_err(|e| TestCaseError::fail(format!("{fj}: {e}")))?;
        let got = f.evaluate(store);
        let want: RoaringBitmap = rows
            .iter()
            .filter(|(_, r)| naive_matches(&fj, r, &types))
            .map(|(s, _)| *s)
            .collect();
        prop_assert_eq!(got, want, "filter {}", fj);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(160, 0x00f1_17e5))]

    /// 160 cases x 8 filters = 1,280 random filters on freshly built stores, and the
    /// same results after an encode/decode round trip.
    #[test]
    fn evaluate_matches_naive(seed in any::<u64>()) {
        let mut rng = SplitMix(seed);
        let (schema, fields) = random_schema(&mut rng);
        let mut store = AttributeStore::new(schema.clone());
        let n = rng.below(80);
        let recs: Vec<Value> = (0..n).map(|_| random_record(&mut rng, &fields)).collect();
        let parsed = store
            .parse_batch(&Value::Array(recs.clone()).to_string(), n)
            .unwrap();
        let mut rows = BTreeMap::new();
        for (i, (raw, rec)) in recs.iter().zip(&parsed).enumerate() {
            let slot = (i as u32) * 3 + (seed % 7) as u32;
            store.set(slot, rec);
            rows.insert(slot, raw.clone());
        }
        prop_assert_eq!(store.len(), rows.len());
        check_filters(&mut rng.clone(), &schema, &fields, &store, &rows, 8)?;
        let back = AttributeStore::decode(&store.encode(), &schema, u32::MAX).unwrap();
        prop_assert_eq!(back.live(), store.live());
        for s in rows.keys() {
            prop_assert_eq!(back.get_json(*s), store.get_json(*s));
        }
        check_filters(&mut rng, &schema, &fields, &back, &rows, 8)?;
    }
}

proptest! {
    #![proptest_config(config(60, 0x0bad_cafe))]

    /// Random set / replace / clear sequences, checked against the naive evaluator after
    /// every few operations (60 cases x 6 checkpoints x 4 filters = 1,440 filters).
    #[test]
    fn updates_keep_bitmaps_right(seed in any::<u64>()) {
        let mut rng = SplitMix(seed);
        let (schema, fields) = random_schema(&mut rng);
        let mut store = AttributeStore::new(schema.clone());
        let mut rows: BTreeMap<u32, Value> = BTreeMap::new();
        for _ in 0..6 {
            for _ in 0..25 {
                let slot = rng.below(40) as u32;
                if rng.chance(0.25) {
                    store.clear(slot);
                    rows.remove(&slot);
                } else {
                    let raw = random_record(&mut rng, &fields);
                    let rec = store
                        .parse_batch(&Value::Array(vec![raw.clone()]).to_string(), 1)
                        .unwrap();
                    store.set(slot, &rec[0]);
                    rows.insert(slot, raw);
                }
            }
            let live: RoaringBitmap = rows.keys().copied().collect();
            prop_assert_eq!(store.live(), &live);
            for s in 0..40u32 {
                prop_assert_eq!(store.contains(s), rows.contains_key(&s));
            }
            check_filters(&mut rng, &schema, &fields, &store, &rows, 4)?;
        }
        // clearing everything leaves no trace in any index
        for s in 0..40u32 {
            store.clear(s);
        }
        prop_assert!(store.is_empty());
        let f = Filter::parse(r#"{"t":"true"}"#, &schema).unwrap();
        prop_assert!(f.evaluate(&store).is_empty());
        for (name, _) in &fields {
            let f = Filter::parse(&format!(r#"{{"t":"exists","f":"{name}"}}"#), &schema).unwrap();
            prop_assert!(f.evaluate(&store).is_empty());
        }
    }
}
