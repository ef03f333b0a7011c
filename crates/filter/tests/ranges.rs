//! Range and equality edge cases: bounds, fractional bounds on int fields, negatives,
//! -0.0, and integers near ±2^53.

use quiver_filter::{AttributeStore, Filter, RoaringBitmap, Schema};

const MAX: i64 = 9_007_199_254_740_991;

fn store(field_type: &str, values: &[&str]) -> (Schema, AttributeStore) {
    let schema = Schema::from_json(&format!(r#"{{"x":"{field_type}","k":"keyword"}}"#)).unwrap();
    let mut st = AttributeStore::new(schema.clone());
    let recs: Vec<String> = values
        .iter()
        .map(|v| {
            if *v == "-" {
                r#"{"k":"none"}"#.to_string()
            } else {
                format!(r#"{{"x":{v}}}"#)
            }
        })
        .collect();
    let parsed = st
        .parse_batch(&format!("[{}]", recs.join(",")), values.len())
        .unwrap();
    for (i, r) in parsed.iter().enumerate() {
        st.set(i as u32, r);
    }
    (schema, st)
}

#[track_caller]
fn check(schema: &Schema, st: &AttributeStore, filter: &str, want: &[u32]) {
    let f = Filter::parse(filter, schema).unwrap();
    let want: RoaringBitmap = want.iter().copied().collect();
    assert_eq!(f.evaluate(st), want, "{filter}");
}

fn range(bounds: &str) -> String {
    format!(r#"{{"t":"range","f":"x",{bounds}}}"#)
}

#[test]
fn int_bounds() {
    // slots:            0     1     2    3    4    5    6
    let (s, st) = store("int", &["-3", "-2", "0", "2", "3", "4", "-"]);
    check(&s, &st, &range(r#""gt":2"#), &[4, 5]);
    check(&s, &st, &range(r#""gte":2"#), &[3, 4, 5]);
    check(&s, &st, &range(r#""lt":2"#), &[0, 1, 2]);
    check(&s, &st, &range(r#""lte":2"#), &[0, 1, 2, 3]);
    check(&s, &st, &range(r#""gt":2.5"#), &[4, 5]);
    check(&s, &st, &range(r#""gte":2.5"#), &[4, 5]);
    check(&s, &st, &range(r#""lt":2.5"#), &[0, 1, 2, 3]);
    check(&s, &st, &range(r#""lte":2.5"#), &[0, 1, 2, 3]);
    check(&s, &st, &range(r#""gt":-2.5"#), &[1, 2, 3, 4, 5]);
    check(&s, &st, &range(r#""lte":-2.5"#), &[0]);
    check(&s, &st, &range(r#""lt":-2"#), &[0]);
    check(&s, &st, &range(r#""gte":-3,"lte":-2"#), &[0, 1]);
    check(&s, &st, &range(r#""gt":-3,"lt":3"#), &[1, 2, 3]);
    check(&s, &st, &range(r#""gte":3,"lte":3"#), &[4]);
    check(&s, &st, &range(r#""gt":3,"lt":3"#), &[]);
    check(&s, &st, &range(r#""gt":2,"lt":3"#), &[]);
    check(&s, &st, &range(r#""gt":5,"lt":1"#), &[]);
    check(&s, &st, &range(r#""gt":2.1,"lt":2.9"#), &[]);
    check(&s, &st, &range(r#""gte":2,"gt":2"#), &[4, 5]);
    check(&s, &st, &range(r#""lte":-0.0"#), &[0, 1, 2]);
    check(&s, &st, &range(r#""gt":-0.5"#), &[2, 3, 4, 5]);
    check(&s, &st, &range(r#""gt":1e300"#), &[]);
    check(&s, &st, &range(r#""gte":-1e300"#), &[0, 1, 2, 3, 4, 5]);
    check(&s, &st, &range(r#""lt":-1e300"#), &[]);
    check(
        &s,
        &st,
        &range(r#""lte":18446744073709551615"#),
        &[0, 1, 2, 3, 4, 5],
    );
    check(&s, &st, &range(r#""gt":9223372036854775807"#), &[]);
    check(&s, &st, &range(r#""lt":-9223372036854775808"#), &[]);
    // equality and $ne / $nin semantics
    check(&s, &st, r#"{"t":"in","f":"x","v":[2,3.0,99]}"#, &[3, 4]);
    check(
        &s,
        &st,
        r#"{"t":"in","f":"x","v":[18446744073709551615]}"#,
        &[],
    );
    check(&s, &st, r#"{"t":"in","f":"x","v":[1e300]}"#, &[]);
    check(
        &s,
        &st,
        r#"{"t":"not","c":{"t":"in","f":"x","v":[2]}}"#,
        &[0, 1, 2, 4, 5, 6],
    );
    check(&s, &st, r#"{"t":"not","c":{"t":"exists","f":"x"}}"#, &[6]);
    check(
        &s,
        &st,
        r#"{"t":"not","c":{"t":"range","f":"x","gt":0}}"#,
        &[0, 1, 2, 6],
    );
    check(&s, &st, r#"{"t":"true"}"#, &[0, 1, 2, 3, 4, 5, 6]);
}

#[test]
fn int_near_2_pow_53() {
    let (s, st) = store(
        "int",
        &[
            "-9007199254740991",
            "-9007199254740990",
            "9007199254740990",
            "9007199254740991",
        ],
    );
    check(&s, &st, &range(&format!(r#""gte":{MAX}"#)), &[3]);
    check(&s, &st, &range(&format!(r#""gt":{}"#, MAX - 1)), &[3]);
    check(&s, &st, &range(&format!(r#""gt":{MAX}"#)), &[]);
    check(&s, &st, &range(r#""gt":9007199254740990.5"#), &[3]);
    check(&s, &st, &range(r#""gte":9007199254740992"#), &[]);
    check(&s, &st, &range(&format!(r#""lte":-{MAX}"#)), &[0]);
    check(&s, &st, &range(&format!(r#""lt":-{}"#, MAX - 1)), &[0]);
    check(&s, &st, &range(r#""lt":-9007199254740990.5"#), &[0]);
    check(
        &s,
        &st,
        &range(r#""gte":-9007199254740991.0"#),
        &[0, 1, 2, 3],
    );
    check(&s, &st, &range(r#""gt":-9007199254740991.0"#), &[1, 2, 3]);
    check(&s, &st, &range(r#""lte":-9007199254740992"#), &[]);
    check(
        &s,
        &st,
        &format!(r#"{{"t":"in","f":"x","v":[{MAX}, -{MAX}]}}"#),
        &[0, 3],
    );
    check(&s, &st, r#"{"t":"in","f":"x","v":[9007199254740992]}"#, &[]);
}

#[test]
fn float_bounds_and_signed_zero() {
    // slots:              0        1     2      3     4     5     6        7
    let (s, st) = store(
        "float",
        &[
            "-1e308", "-2.5", "-0.0", "0.0", "0.5", "3", "1e308", "5e-324",
        ],
    );
    check(&s, &st, r#"{"t":"in","f":"x","v":[0]}"#, &[2, 3]);
    check(&s, &st, r#"{"t":"in","f":"x","v":[-0.0]}"#, &[2, 3]);
    check(&s, &st, r#"{"t":"in","f":"x","v":[3]}"#, &[5]);
    check(
        &s,
        &st,
        r#"{"t":"in","f":"x","v":[3.0000000000000004]}"#,
        &[],
    );
    check(&s, &st, &range(r#""gt":-0.0"#), &[4, 5, 6, 7]);
    check(&s, &st, &range(r#""gt":0"#), &[4, 5, 6, 7]);
    check(&s, &st, &range(r#""gte":0"#), &[2, 3, 4, 5, 6, 7]);
    check(&s, &st, &range(r#""lt":0"#), &[0, 1]);
    check(&s, &st, &range(r#""lte":-0.0"#), &[0, 1, 2, 3]);
    check(&s, &st, &range(r#""gt":0,"lt":5e-324"#), &[]);
    check(&s, &st, &range(r#""gte":5e-324,"lte":5e-324"#), &[7]);
    check(&s, &st, &range(r#""gt":-2.5,"lt":0.5"#), &[2, 3, 7]);
    check(&s, &st, &range(r#""gte":-2.5,"lte":0.5"#), &[1, 2, 3, 4, 7]);
    check(&s, &st, &range(r#""lt":-1e308"#), &[]);
    check(&s, &st, &range(r#""lte":-1e308"#), &[0]);
    check(&s, &st, &range(r#""gt":1e308"#), &[]);
    check(
        &s,
        &st,
        &range(r#""gte":-1.7976931348623157e308"#),
        &[0, 1, 2, 3, 4, 5, 6, 7],
    );
    check(&s, &st, &range(r#""gt":2,"lt":18446744073709551615"#), &[5]);
    check(&s, &st, &range(r#""gt":0.1,"lte":0.5"#), &[4]);
}

#[test]
fn keyword_and_bool_in_all() {
    let schema = Schema::from_json(r#"{"t":"keyword[]","b":"bool","k":"keyword"}"#).unwrap();
    let mut st = AttributeStore::new(schema.clone());
    let recs = st
        .parse_batch(
            r#"[{"t":["a","b"],"b":true,"k":"x"},{"t":["b","c"],"b":false},{"t":[]},null,{"t":["a"],"k":"y"}]"#,
            5,
        )
        .unwrap();
    for (i, r) in recs.iter().enumerate() {
        st.set(i as u32, r);
    }
    let c = |f: &str, want: &[u32]| check(&schema, &st, f, want);
    c(r#"{"t":"in","f":"t","v":["a"]}"#, &[0, 4]);
    c(r#"{"t":"in","f":"t","v":["a","c"]}"#, &[0, 1, 4]);
    c(r#"{"t":"all","f":"t","v":["a","b"]}"#, &[0]);
    c(r#"{"t":"all","f":"t","v":["a","zz"]}"#, &[]);
    c(r#"{"t":"all","f":"t","v":["b","b"]}"#, &[0, 1]);
    c(r#"{"t":"exists","f":"t"}"#, &[0, 1, 2, 4]);
    c(
        r#"{"t":"not","c":{"t":"in","f":"t","v":["b"]}}"#,
        &[2, 3, 4],
    );
    c(r#"{"t":"in","f":"b","v":[true]}"#, &[0]);
    c(r#"{"t":"in","f":"b","v":[true,false]}"#, &[0, 1]);
    c(
        r#"{"t":"not","c":{"t":"in","f":"b","v":[true]}}"#,
        &[1, 2, 3, 4],
    );
    c(r#"{"t":"in","f":"k","v":["x","y","never"]}"#, &[0, 4]);
    c(
        r#"{"t":"and","c":[{"t":"in","f":"t","v":["a"]},{"t":"not","c":{"t":"exists","f":"k"}}]}"#,
        &[],
    );
    c(
        r#"{"t":"or","c":[{"t":"in","f":"b","v":[false]},{"t":"in","f":"k","v":["y"]}]}"#,
        &[1, 4],
    );
    assert_eq!(st.get_json(3).unwrap(), "{}");
    assert_eq!(st.get_json(2).unwrap(), r#"{"t":[]}"#);
    assert_eq!(
        st.get_json(0).unwrap(),
        r#"{"b":true,"k":"x","t":["a","b"]}"#
    );
    assert_eq!(st.get_json(9), None);
    // a filter parsed against another schema matches nothing here
    let other = Schema::from_json(r#"{"t":"keyword[]"}"#).unwrap();
    let f = Filter::parse(r#"{"t":"true"}"#, &other).unwrap();
    assert!(f.evaluate(&st).is_empty());
}

#[test]
fn dictionary_ids_are_reused_and_memory_is_reported() {
    let schema = Schema::from_json(r#"{"k":"keyword"}"#).unwrap();
    let mut st = AttributeStore::new(schema.clone());
    let empty = st.memory_usage();
    for round in 0..50u32 {
        let j = format!(r#"[{{"k":"value-{round}"}}]"#);
        let r = st.parse_batch(&j, 1).unwrap();
        st.set(1, &r[0]);
    }
    let one = st.memory_usage();
    assert!(one > empty);
    let f = Filter::parse(r#"{"t":"in","f":"k","v":["value-49"]}"#, &schema).unwrap();
    assert_eq!(f.evaluate(&st).iter().collect::<Vec<_>>(), vec![1]);
    let f = Filter::parse(r#"{"t":"in","f":"k","v":["value-48"]}"#, &schema).unwrap();
    assert!(f.evaluate(&st).is_empty());
    let recs: Vec<String> = (0..1000)
        .map(|i| format!(r#"{{"k":"v{}"}}"#, i % 10))
        .collect();
    let r = st
        .parse_batch(&format!("[{}]", recs.join(",")), 1000)
        .unwrap();
    for (i, r) in r.iter().enumerate() {
        st.set(i as u32 + 10, r);
    }
    assert!(st.memory_usage() > one);
}
