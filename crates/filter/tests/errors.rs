//! Every bad schema, record and filter gives the right error kind and names the place.

use quiver_filter::{AttributeStore, Filter, FilterError, PayloadStore, Schema};

fn schema() -> Schema {
    Schema::from_json(
        r#"{"lang":"keyword","tags":"keyword[]","year":"int","score":"float","ok":"bool"}"#,
    )
    .unwrap()
}

#[track_caller]
fn arg_err(r: Result<impl std::fmt::Debug, FilterError>, needle: &str) {
    match r {
        Err(FilterError::InvalidArgument(m)) => {
            assert!(m.contains(needle), "message {m:?} lacks {needle:?}")
        }
        other => panic!("expected InvalidArgument containing {needle:?}, got {other:?}"),
    }
}

#[track_caller]
fn filter_err(json: &str, needle: &str) {
    match Filter::parse(json, &schema()) {
        Err(FilterError::InvalidFilter(m)) => {
            assert!(m.contains(needle), "message {m:?} lacks {needle:?}")
        }
        other => panic!("{json}: expected InvalidFilter containing {needle:?}, got {other:?}"),
    }
}

#[test]
fn schema_errors() {
    arg_err(
        Schema::from_json(r#"{"a":"text"}"#),
        "unknown type \"text\"",
    );
    arg_err(Schema::from_json(r#"{"":"int"}"#), "empty field name");
    arg_err(Schema::from_json(r#"{"a":3}"#), "expected a type string");
    arg_err(Schema::from_json(r#"[]"#), "expected a JSON object");
    arg_err(Schema::from_json("{"), "not valid JSON");
    let long = "x".repeat(129);
    arg_err(
        Schema::from_json(&format!(r#"{{"{long}":"int"}}"#)),
        "exceeds the limit of 128",
    );
    assert!(Schema::from_json(&format!(r#"{{"{}":"int"}}"#, "x".repeat(128))).is_ok());
    let many: Vec<String> = (0..65).map(|i| format!(r#""f{i}":"int""#)).collect();
    arg_err(
        Schema::from_json(&format!("{{{}}}", many.join(","))),
        "exceed the limit of 64",
    );
    let ok: Vec<String> = (0..64).map(|i| format!(r#""f{i}":"int""#)).collect();
    assert_eq!(
        Schema::from_json(&format!("{{{}}}", ok.join(",")))
            .unwrap()
            .len(),
        64
    );
}

#[test]
fn schema_round_trip() {
    let s = schema();
    assert_eq!(Schema::from_json(&s.to_json()).unwrap(), s);
    assert_eq!(
        s.field("tags"),
        Some((3, quiver_filter::FieldType::KeywordArray))
    );
    assert_eq!(s.field("nope"), None);
}

#[test]
fn record_errors() {
    let st = AttributeStore::new(schema());
    let p = |j: &str, n: usize| st.parse_batch(j, n);
    arg_err(
        p(r#"[{}, {"nope": 1}]"#, 2),
        "attributes[1]: undeclared field \"nope\"",
    );
    arg_err(p(r#"[{}]"#, 2), "expected 2 entries, got 1");
    arg_err(p(r#"{}"#, 1), "expected a JSON array");
    arg_err(p(r#"[3]"#, 1), "attributes[0]: expected an object or null");
    arg_err(
        p(r#"[{"lang": 3}]"#, 1),
        "attributes[0].lang: expected a keyword string",
    );
    arg_err(
        p(r#"[{"tags": "a"}]"#, 1),
        "attributes[0].tags: expected an array",
    );
    arg_err(
        p(r#"[{"tags": ["a", 1]}]"#, 1),
        "attributes[0].tags[1]: expected a keyword string",
    );
    arg_err(
        p(r#"[{"year": 1.5}]"#, 1),
        "attributes[0].year: 1.5 is not a safe integer",
    );
    arg_err(
        p(r#"[{"year": "1"}]"#, 1),
        "attributes[0].year: expected an integer",
    );
    arg_err(
        p(r#"[{"year": 9007199254740992}]"#, 1),
        "not a safe integer",
    );
    arg_err(
        p(r#"[{"year": -9007199254740992}]"#, 1),
        "not a safe integer",
    );
    arg_err(
        p(r#"[{"year": 18446744073709551615}]"#, 1),
        "not a safe integer",
    );
    arg_err(p(r#"[{"year": 1e300}]"#, 1), "not a safe integer");
    arg_err(
        p(r#"[{"score": "x"}]"#, 1),
        "attributes[0].score: expected a number",
    );
    arg_err(
        p(r#"[{"ok": 1}]"#, 1),
        "attributes[0].ok: expected a boolean",
    );
    let long = "x".repeat(1025);
    arg_err(
        p(&format!(r#"[{{"lang": "{long}"}}]"#), 1),
        "1025 bytes exceeds the limit of 1024",
    );
    let many: Vec<String> = (0..1025).map(|i| format!("\"{i}\"")).collect();
    arg_err(
        p(&format!(r#"[{{"tags": [{}]}}]"#, many.join(",")), 1),
        "1025 strings exceed the limit of 1024",
    );
    // limits themselves are fine; integral floats and safe-range extremes are ints
    let ok = "x".repeat(1024);
    let recs = p(
        &format!(
            r#"[{{"lang": "{ok}", "year": 9007199254740991, "score": 3}}, {{"year": -9007199254740991.0}}, null, {{"lang": null}}]"#
        ),
        4,
    )
    .unwrap();
    assert_eq!(recs.len(), 4);
    assert!(recs[2].is_empty() && recs[3].is_empty());
}

#[test]
fn keyword_array_duplicates_merged() {
    let mut st = AttributeStore::new(schema());
    let recs = st
        .parse_batch(r#"[{"tags": ["a", "b", "a", "b", "c"]}]"#, 1)
        .unwrap();
    st.set(7, &recs[0]);
    assert_eq!(st.get_json(7).unwrap(), r#"{"tags":["a","b","c"]}"#);
    st.clear(7);
    assert_eq!(st.get_json(7), None);
    let f = Filter::parse(r#"{"t":"in","f":"tags","v":["a"]}"#, &schema()).unwrap();
    assert!(f.evaluate(&st).is_empty());
}

#[test]
fn filter_errors() {
    filter_err("{", "not valid JSON");
    filter_err("[]", "(root): expected a filter node object");
    filter_err(r#"{"c":[]}"#, "(root): missing node type \"t\"");
    filter_err(r#"{"t":"xor"}"#, "t: unknown node type \"xor\"");
    filter_err(r#"{"t":"true","x":1}"#, "(root): unexpected key \"x\"");
    filter_err(r#"{"t":"and","c":[]}"#, "c: expected a non-empty array");
    filter_err(r#"{"t":"or"}"#, "(root): missing \"c\"");
    filter_err(r#"{"t":"and","c":{}}"#, "c: expected an array of nodes");
    filter_err(
        r#"{"t":"and","c":[{"t":"true"},{"t":"in","f":"lang","v":[1]}]}"#,
        r#"c[1].v[0]: expected a string for keyword field "lang""#,
    );
    filter_err(
        r#"{"t":"or","c":[{"t":"not","c":{"t":"in","f":"nope","v":["a"]}}]}"#,
        r#"c[0].c.f: unknown field "nope""#,
    );
    filter_err(
        r#"{"t":"in","f":"lang","v":[]}"#,
        "v: expected a non-empty array",
    );
    filter_err(r#"{"t":"in","f":"lang"}"#, "(root): missing \"v\"");
    filter_err(r#"{"t":"in","v":["a"]}"#, "(root): missing \"f\"");
    filter_err(
        r#"{"t":"in","f":3,"v":["a"]}"#,
        "f: expected a field name string",
    );
    filter_err(
        r#"{"t":"in","f":"tags","v":["a",2]}"#,
        r#"v[1]: expected a string for keyword[] field "tags""#,
    );
    filter_err(
        r#"{"t":"in","f":"year","v":[2.5]}"#,
        r#"v[0]: expected an integer for int field "year""#,
    );
    filter_err(
        r#"{"t":"in","f":"year","v":["2"]}"#,
        r#"v[0]: expected a number for int field "year""#,
    );
    filter_err(
        r#"{"t":"in","f":"score","v":[true]}"#,
        r#"v[0]: expected a finite number for float field "score""#,
    );
    filter_err(
        r#"{"t":"in","f":"ok","v":[0]}"#,
        r#"v[0]: expected a boolean for bool field "ok""#,
    );
    filter_err(
        r#"{"t":"all","f":"lang","v":["a"]}"#,
        r#"f: "all" needs a keyword[] field, "lang" is keyword"#,
    );
    filter_err(
        r#"{"t":"all","f":"tags","v":[1]}"#,
        r#"v[0]: expected a string for keyword[] field "tags""#,
    );
    filter_err(
        r#"{"t":"range","f":"lang","gt":1}"#,
        r#"f: "range" needs an int or float field"#,
    );
    filter_err(
        r#"{"t":"range","f":"year"}"#,
        "(root): a range needs at least one of",
    );
    filter_err(
        r#"{"t":"range","f":"year","gt":"1"}"#,
        "gt: expected a finite number",
    );
    filter_err(
        r#"{"t":"range","f":"year","lte":null}"#,
        "lte: expected a finite number",
    );
    filter_err(
        r#"{"t":"range","f":"year","gt":1,"eq":2}"#,
        "(root): unexpected key \"eq\"",
    );
    filter_err(r#"{"t":"exists"}"#, "(root): missing \"f\"");
    filter_err(r#"{"t":"not"}"#, "(root): missing \"c\"");
    filter_err(r#"{"t":"not","c":[]}"#, "c: expected a filter node object");
}

fn nest(depth: usize) -> String {
    let mut s = r#"{"t":"true"}"#.to_string();
    for _ in 1..depth {
        s = format!(r#"{{"t":"not","c":{s}}}"#);
    }
    s
}

#[test]
fn filter_limits() {
    assert_eq!(quiver_filter::MAX_FILTER_DEPTH, 16);
    assert!(Filter::parse(&nest(16), &schema()).is_ok());
    filter_err(&nest(17), "nested deeper than 16 levels");
    filter_err(&nest(100), "nested deeper than 16 levels");
    // beyond serde_json's own recursion limit the JSON itself is refused
    filter_err(&nest(500), "recursion limit exceeded");
    let kids: Vec<&str> = vec![r#"{"t":"true"}"#; 4096];
    filter_err(
        &format!(r#"{{"t":"or","c":[{}]}}"#, kids.join(",")),
        "more than 4096 nodes",
    );
    assert!(Filter::parse(
        &format!(r#"{{"t":"or","c":[{}]}}"#, kids[..4095].join(",")),
        &schema()
    )
    .is_ok());
    let vals: Vec<String> = (0..65537).map(|i| format!("\"{i}\"")).collect();
    filter_err(
        &format!(r#"{{"t":"in","f":"lang","v":[{}]}}"#, vals.join(",")),
        "more than 65536 values",
    );
}

#[test]
fn payload_errors() {
    arg_err(PayloadStore::validate(&[0xff, 0xfe]), "not valid UTF-8");
    arg_err(
        PayloadStore::validate(&vec![b'x'; (1 << 20) + 1]),
        "exceeds the limit of 1048576",
    );
    assert!(PayloadStore::validate(&vec![b'x'; 1 << 20]).is_ok());
    let mut p = PayloadStore::new();
    arg_err(p.set(1, &[0xc3]), "not valid UTF-8");
    assert!(p.is_empty());
}
