//! Shared test helpers: a small deterministic RNG, random schemas, records and filters,
//! and a naive per-row filter evaluator.
#![allow(dead_code)]

use std::collections::BTreeMap;

use quiver_filter::{FieldType, Schema};
use serde_json::{json, Value};

#[derive(Clone)]
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 / 1.0 < p
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

pub const KEYWORDS: &[&str] = &["a", "b", "c", "d", "ε", ""];
pub const INTS: &[i64] = &[
    -9_007_199_254_740_991,
    -9_007_199_254_740_990,
    -3,
    -1,
    0,
    1,
    2,
    3,
    7,
    9_007_199_254_740_990,
    9_007_199_254_740_991,
];
pub const FLOATS: &[f64] = &[-1e300, -2.5, -1.0, -0.0, 0.0, 0.5, 1.0, 2.5, 3.0, 1e300];
pub const BOUNDS: &[f64] = &[
    -1e301,
    -9_007_199_254_740_991.0,
    -2.5,
    -1.0,
    -0.5,
    -0.0,
    0.0,
    0.5,
    1.0,
    2.0,
    2.5,
    3.0,
    9_007_199_254_740_990.0,
    1e301,
];

pub const TYPES: &[FieldType] = &[
    FieldType::Keyword,
    FieldType::KeywordArray,
    FieldType::Int,
    FieldType::Float,
    FieldType::Bool,
];

pub fn random_schema(rng: &mut SplitMix) -> (Schema, Vec<(String, FieldType)>) {
    let n = 1 + rng.below(6);
    let fields: Vec<(String, FieldType)> = (0..n)
        .map(|i| (format!("f{i}"), *rng.pick(TYPES)))
        .collect();
    (Schema::new(fields.clone()).unwrap(), fields)
}

pub fn random_value(rng: &mut SplitMix, ty: FieldType) -> Value {
    match ty {
        FieldType::Keyword => json!(rng.pick(KEYWORDS)),
        FieldType::KeywordArray => {
            let n = rng.below(4);
            Value::Array((0..n).map(|_| json!(rng.pick(KEYWORDS))).collect())
        }
        FieldType::Int => json!(rng.pick(INTS)),
        FieldType::Float => json!(rng.pick(FLOATS)),
        FieldType::Bool => json!(rng.chance(0.5)),
    }
}

/// A random record object, or null.
pub fn random_record(rng: &mut SplitMix, fields: &[(String, FieldType)]) -> Value {
    if rng.chance(0.1) {
        return Value::Null;
    }
    let mut m = serde_json::Map::new();
    for (name, ty) in fields {
        if rng.chance(0.65) {
            m.insert(name.clone(), random_value(rng, *ty));
        } else if rng.chance(0.2) {
            m.insert(name.clone(), Value::Null);
        }
    }
    Value::Object(m)
}

fn filter_value(rng: &mut SplitMix, ty: FieldType) -> Value {
    match ty {
        FieldType::Keyword | FieldType::KeywordArray => {
            if rng.chance(0.1) {
                json!("never-stored")
            } else {
                json!(rng.pick(KEYWORDS))
            }
        }
        FieldType::Int => {
            if rng.chance(0.1) {
                json!(42)
            } else {
                json!(rng.pick(INTS))
            }
        }
        FieldType::Float => {
            if rng.chance(0.2) {
                json!(*rng.pick(INTS) as f64)
            } else {
                json!(rng.pick(FLOATS))
            }
        }
        FieldType::Bool => json!(rng.chance(0.5)),
    }
}

fn bound(rng: &mut SplitMix, ty: FieldType) -> Value {
    if ty == FieldType::Int && rng.chance(0.5) {
        json!(rng.pick(INTS))
    } else {
        json!(rng.pick(BOUNDS))
    }
}

pub fn random_filter(rng: &mut SplitMix, fields: &[(String, FieldType)], depth: usize) -> Value {
    let leaf = depth >= 4 || rng.chance(0.45);
    if !leaf {
        return match rng.below(3) {
            0 | 1 => {
                let n = 1 + rng.below(3);
                let c: Vec<Value> = (0..n)
                    .map(|_| random_filter(rng, fields, depth + 1))
                    .collect();
                json!({"t": if rng.chance(0.5) { "and" } else { "or" }, "c": c})
            }
            _ => json!({"t": "not", "c": random_filter(rng, fields, depth + 1)}),
        };
    }
    if rng.chance(0.05) {
        return json!({"t": "true"});
    }
    let (name, ty) = rng.pick(fields).clone();
    // exists 1/6, in 2/6, and for fields that support it all/range 3/6
    let op = match rng.below(6) {
        0 => 0,
        1 | 2 => 3,
        _ if ty == FieldType::KeywordArray => 1,
        _ if matches!(ty, FieldType::Int | FieldType::Float) => 2,
        _ => 3,
    };
    match op {
        0 => json!({"t": "exists", "f": name}),
        1 => {
            let n = 1 + rng.below(3);
            let v: Vec<Value> = (0..n).map(|_| filter_value(rng, ty)).collect();
            json!({"t": "all", "f": name, "v": v})
        }
        2 => {
            let mut m = serde_json::Map::new();
            m.insert("t".into(), json!("range"));
            m.insert("f".into(), json!(name));
            for k in ["gt", "gte", "lt", "lte"] {
                if rng.chance(0.4) {
                    m.insert(k.into(), bound(rng, ty));
                }
            }
            if m.len() == 2 {
                m.insert("gte".into(), bound(rng, ty));
            }
            Value::Object(m)
        }
        _ => {
            let n = 1 + rng.below(3);
            let v: Vec<Value> = (0..n).map(|_| filter_value(rng, ty)).collect();
            json!({"t": "in", "f": name, "v": v})
        }
    }
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

/// Straightforward per-row semantics on the raw record objects (null = no attributes).
pub fn naive_matches(f: &Value, rec: &Value, types: &BTreeMap<String, FieldType>) -> bool {
    let t = f["t"].as_str().unwrap();
    let field = |f: &Value| -> Option<Value> {
        let name = f["f"].as_str().unwrap();
        rec.get(name).filter(|v| !v.is_null()).cloned()
    };
    match t {
        "true" => true,
        "and" => f["c"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| naive_matches(c, rec, types)),
        "or" => f["c"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| naive_matches(c, rec, types)),
        "not" => !naive_matches(&f["c"], rec, types),
        "exists" => field(f).is_some(),
        "in" | "all" => {
            let Some(val) = field(f) else { return false };
            let ty = types[f["f"].as_str().unwrap()];
            let vs = f["v"].as_array().unwrap();
            let eq = |a: &Value, b: &Value| match ty {
                FieldType::Keyword | FieldType::KeywordArray => a.as_str() == b.as_str(),
                FieldType::Int | FieldType::Float => num(a) == num(b),
                FieldType::Bool => a.as_bool() == b.as_bool(),
            };
            if ty == FieldType::KeywordArray {
                let arr = val.as_array().unwrap();
                if t == "all" {
                    vs.iter().all(|v| arr.iter().any(|x| eq(x, v)))
                } else {
                    vs.iter().any(|v| arr.iter().any(|x| eq(x, v)))
                }
            } else {
                vs.iter().any(|v| eq(&val, v))
            }
        }
        "range" => {
            let Some(val) = field(f) else { return false };
            let x = num(&val);
            f.get("gt").is_none_or(|b| x > num(b))
                && f.get("gte").is_none_or(|b| x >= num(b))
                && f.get("lt").is_none_or(|b| x < num(b))
                && f.get("lte").is_none_or(|b| x <= num(b))
        }
        other => panic!("unknown node {other}"),
    }
}

pub fn types_of(fields: &[(String, FieldType)]) -> BTreeMap<String, FieldType> {
    fields.iter().cloned().collect()
}
