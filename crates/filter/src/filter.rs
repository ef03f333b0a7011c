//! The filter AST: parsing against a schema and evaluation over an [`AttributeStore`].

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use roaring::{MultiOps, RoaringBitmap};
use serde_json::{Map, Number, Value as Json};

use crate::attrs::{float_key, AttributeStore, Index};
use crate::error::{FilterError, Result};
use crate::schema::{FieldType, Schema};

/// The deepest nesting of filter nodes; the root is at depth 1.
pub const MAX_FILTER_DEPTH: usize = 16;
/// The most nodes one filter may hold.
pub const MAX_FILTER_NODES: usize = 4096;
/// The most values (entries of `v` arrays, summed over the filter) one filter may hold.
pub const MAX_FILTER_VALUES: usize = 65536;

#[derive(Clone, Debug)]
enum Node {
    True,
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Exists(usize),
    /// keyword or keyword[] field, any of the strings.
    InKeyword(usize, Vec<String>),
    /// keyword[] field, all of the strings.
    AllKeyword(usize, Vec<String>),
    InInt(usize, Vec<i64>),
    InFloat(usize, Vec<u64>),
    InBool(usize, [bool; 2]),
    /// An int range; `None` when empty.
    RangeInt(usize, Option<RangeInclusive<i64>>),
    /// A range of float keys; `None` when empty.
    RangeFloat(usize, Option<RangeInclusive<u64>>),
}

/// A parsed and schema-checked filter. See the crate documentation for the AST.
#[derive(Clone, Debug)]
pub struct Filter {
    root: Node,
    fingerprint: u64,
}

fn bad(path: &str, msg: impl std::fmt::Display) -> FilterError {
    let p = if path.is_empty() { "(root)" } else { path };
    FilterError::InvalidFilter(format!("{p}: {msg}"))
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

struct Parser<'a> {
    schema: &'a Schema,
    nodes: usize,
    values: usize,
}

/// A numeric filter operand: an exact integer or a finite float.
#[derive(Clone, Copy)]
enum Num {
    Int(i128),
    Float(f64),
}

fn num(n: &Number) -> Option<Num> {
    if let Some(i) = n.as_i64() {
        Some(Num::Int(i128::from(i)))
    } else if let Some(u) = n.as_u64() {
        Some(Num::Int(i128::from(u)))
    } else {
        n.as_f64().filter(|x| x.is_finite()).map(Num::Float)
    }
}

fn num_f64(n: Num) -> f64 {
    match n {
        Num::Int(i) => i as f64,
        Num::Float(x) => x,
    }
}

/// `f64` -> `i128`, saturating; the argument is integral and finite.
fn f2i(x: f64) -> i128 {
    x as i128
}

impl Parser<'_> {
    fn obj<'j>(&self, v: &'j Json, path: &str) -> Result<&'j Map<String, Json>> {
        v.as_object()
            .ok_or_else(|| bad(path, "expected a filter node object"))
    }

    fn check_keys(&self, o: &Map<String, Json>, allowed: &[&str], path: &str) -> Result<()> {
        for k in o.keys() {
            if !allowed.contains(&k.as_str()) {
                return Err(bad(path, format!("unexpected key \"{k}\"")));
            }
        }
        Ok(())
    }

    fn field(&self, o: &Map<String, Json>, path: &str) -> Result<(usize, FieldType, String)> {
        let name = o
            .get("f")
            .ok_or_else(|| bad(path, "missing \"f\""))?
            .as_str()
            .ok_or_else(|| bad(&join(path, "f"), "expected a field name string"))?;
        let (i, ty) = self
            .schema
            .field(name)
            .ok_or_else(|| bad(&join(path, "f"), format!("unknown field \"{name}\"")))?;
        Ok((i, ty, name.to_owned()))
    }

    fn values<'j>(&mut self, o: &'j Map<String, Json>, path: &str) -> Result<&'j [Json]> {
        let v = o
            .get("v")
            .ok_or_else(|| bad(path, "missing \"v\""))?
            .as_array()
            .ok_or_else(|| bad(&join(path, "v"), "expected an array"))?;
        if v.is_empty() {
            return Err(bad(&join(path, "v"), "expected a non-empty array"));
        }
        self.values += v.len();
        if self.values > MAX_FILTER_VALUES {
            return Err(bad(
                &join(path, "v"),
                format!("more than {MAX_FILTER_VALUES} values in the filter"),
            ));
        }
        Ok(v)
    }

    fn node(&mut self, v: &Json, path: &str, depth: usize) -> Result<Node> {
        if depth > MAX_FILTER_DEPTH {
            return Err(bad(
                path,
                format!("nested deeper than {MAX_FILTER_DEPTH} levels"),
            ));
        }
        self.nodes += 1;
        if self.nodes > MAX_FILTER_NODES {
            return Err(bad(path, format!("more than {MAX_FILTER_NODES} nodes")));
        }
        let o = self.obj(v, path)?;
        let t = o
            .get("t")
            .ok_or_else(|| bad(path, "missing node type \"t\""))?
            .as_str()
            .ok_or_else(|| bad(&join(path, "t"), "expected a string"))?;
        match t {
            "true" => {
                self.check_keys(o, &["t"], path)?;
                Ok(Node::True)
            }
            "and" | "or" => {
                self.check_keys(o, &["t", "c"], path)?;
                let c = o
                    .get("c")
                    .ok_or_else(|| bad(path, "missing \"c\""))?
                    .as_array()
                    .ok_or_else(|| bad(&join(path, "c"), "expected an array of nodes"))?;
                if c.is_empty() {
                    return Err(bad(&join(path, "c"), "expected a non-empty array"));
                }
                let mut kids = Vec::with_capacity(c.len().min(MAX_FILTER_NODES));
                for (i, k) in c.iter().enumerate() {
                    kids.push(self.node(k, &join(path, &format!("c[{i}]")), depth + 1)?);
                }
                Ok(if t == "and" {
                    Node::And(kids)
                } else {
                    Node::Or(kids)
                })
            }
            "not" => {
                self.check_keys(o, &["t", "c"], path)?;
                let c = o.get("c").ok_or_else(|| bad(path, "missing \"c\""))?;
                Ok(Node::Not(Box::new(self.node(
                    c,
                    &join(path, "c"),
                    depth + 1,
                )?)))
            }
            "exists" => {
                self.check_keys(o, &["t", "f"], path)?;
                let (f, _, _) = self.field(o, path)?;
                Ok(Node::Exists(f))
            }
            "in" => {
                self.check_keys(o, &["t", "f", "v"], path)?;
                let (f, ty, name) = self.field(o, path)?;
                let vals = self.values(o, path)?;
                let vp = |i: usize| join(path, &format!("v[{i}]"));
                match ty {
                    FieldType::Keyword | FieldType::KeywordArray => {
                        let mut out = Vec::with_capacity(vals.len());
                        for (i, x) in vals.iter().enumerate() {
                            let s = x.as_str().ok_or_else(|| {
                                bad(
                                    &vp(i),
                                    format!(
                                        "expected a string for {} field \"{name}\"",
                                        ty.as_str()
                                    ),
                                )
                            })?;
                            out.push(s.to_owned());
                        }
                        Ok(Node::InKeyword(f, out))
                    }
                    FieldType::Int => {
                        let mut out = Vec::with_capacity(vals.len());
                        for (i, x) in vals.iter().enumerate() {
                            let n = x.as_number().and_then(num).ok_or_else(|| {
                                bad(
                                    &vp(i),
                                    format!("expected a number for int field \"{name}\""),
                                )
                            })?;
                            match n {
                                Num::Int(i) => {
                                    if let Ok(i) = i64::try_from(i) {
                                        out.push(i);
                                    }
                                }
                                Num::Float(x) => {
                                    if x.fract() != 0.0 {
                                        return Err(bad(
                                            &vp(i),
                                            format!(
                                                "expected an integer for int field \"{name}\", got {x}"
                                            ),
                                        ));
                                    }
                                    if let Ok(i) = i64::try_from(f2i(x)) {
                                        out.push(i);
                                    }
                                }
                            }
                        }
                        // an integral value beyond i64 matches nothing and is dropped
                        Ok(Node::InInt(f, out))
                    }
                    FieldType::Float => {
                        let mut out = Vec::with_capacity(vals.len());
                        for (i, x) in vals.iter().enumerate() {
                            let n = x.as_number().and_then(num).ok_or_else(|| {
                                bad(
                                    &vp(i),
                                    format!("expected a finite number for float field \"{name}\""),
                                )
                            })?;
                            out.push(float_key(num_f64(n)));
                        }
                        Ok(Node::InFloat(f, out))
                    }
                    FieldType::Bool => {
                        let mut want = [false; 2];
                        for (i, x) in vals.iter().enumerate() {
                            let b = x.as_bool().ok_or_else(|| {
                                bad(
                                    &vp(i),
                                    format!("expected a boolean for bool field \"{name}\""),
                                )
                            })?;
                            want[usize::from(b)] = true;
                        }
                        Ok(Node::InBool(f, want))
                    }
                }
            }
            "all" => {
                self.check_keys(o, &["t", "f", "v"], path)?;
                let (f, ty, name) = self.field(o, path)?;
                if ty != FieldType::KeywordArray {
                    return Err(bad(
                        &join(path, "f"),
                        format!(
                            "\"all\" needs a keyword[] field, \"{name}\" is {}",
                            ty.as_str()
                        ),
                    ));
                }
                let vals = self.values(o, path)?;
                let mut out = Vec::with_capacity(vals.len());
                for (i, x) in vals.iter().enumerate() {
                    let s = x.as_str().ok_or_else(|| {
                        bad(
                            &join(path, &format!("v[{i}]")),
                            format!("expected a string for keyword[] field \"{name}\""),
                        )
                    })?;
                    out.push(s.to_owned());
                }
                Ok(Node::AllKeyword(f, out))
            }
            "range" => {
                self.check_keys(o, &["t", "f", "gt", "gte", "lt", "lte"], path)?;
                let (f, ty, name) = self.field(o, path)?;
                if ty != FieldType::Int && ty != FieldType::Float {
                    return Err(bad(
                        &join(path, "f"),
                        format!(
                            "\"range\" needs an int or float field, \"{name}\" is {}",
                            ty.as_str()
                        ),
                    ));
                }
                let mut bounds: [Option<Num>; 4] = [None; 4];
                for (k, key) in ["gt", "gte", "lt", "lte"].iter().enumerate() {
                    if let Some(x) = o.get(*key) {
                        let n = x
                            .as_number()
                            .and_then(num)
                            .ok_or_else(|| bad(&join(path, key), "expected a finite number"))?;
                        bounds[k] = Some(n);
                    }
                }
                if bounds.iter().all(Option::is_none) {
                    return Err(bad(path, "a range needs at least one of gt, gte, lt, lte"));
                }
                let [gt, gte, lt, lte] = bounds;
                Ok(if ty == FieldType::Int {
                    Node::RangeInt(f, int_range(gt, gte, lt, lte))
                } else {
                    Node::RangeFloat(f, float_range(gt, gte, lt, lte))
                })
            }
            other => Err(bad(
                &join(path, "t"),
                format!("unknown node type \"{other}\""),
            )),
        }
    }
}

/// The smallest integer `>= x` (`strict`: `> x`), as i128.
fn int_lower(n: Num, strict: bool) -> i128 {
    match (n, strict) {
        (Num::Int(i), false) => i,
        (Num::Int(i), true) => i.saturating_add(1),
        (Num::Float(x), false) => f2i(x.ceil()),
        (Num::Float(x), true) => f2i(x.floor()).saturating_add(1),
    }
}

/// The largest integer `<= x` (`strict`: `< x`), as i128.
fn int_upper(n: Num, strict: bool) -> i128 {
    match (n, strict) {
        (Num::Int(i), false) => i,
        (Num::Int(i), true) => i.saturating_sub(1),
        (Num::Float(x), false) => f2i(x.floor()),
        (Num::Float(x), true) => f2i(x.ceil()).saturating_sub(1),
    }
}

fn int_range(
    gt: Option<Num>,
    gte: Option<Num>,
    lt: Option<Num>,
    lte: Option<Num>,
) -> Option<RangeInclusive<i64>> {
    let mut lo = i128::from(i64::MIN);
    let mut hi = i128::from(i64::MAX);
    if let Some(n) = gt {
        lo = lo.max(int_lower(n, true));
    }
    if let Some(n) = gte {
        lo = lo.max(int_lower(n, false));
    }
    if let Some(n) = lt {
        hi = hi.min(int_upper(n, true));
    }
    if let Some(n) = lte {
        hi = hi.min(int_upper(n, false));
    }
    if lo > hi {
        return None;
    }
    Some(i64::try_from(lo).ok()?..=i64::try_from(hi).ok()?)
}

fn float_range(
    gt: Option<Num>,
    gte: Option<Num>,
    lt: Option<Num>,
    lte: Option<Num>,
) -> Option<RangeInclusive<u64>> {
    let mut lo = 0u64;
    let mut hi = u64::MAX;
    if let Some(n) = gt {
        lo = lo.max(float_key(num_f64(n)).checked_add(1)?);
    }
    if let Some(n) = gte {
        lo = lo.max(float_key(num_f64(n)));
    }
    if let Some(n) = lt {
        hi = hi.min(float_key(num_f64(n)).checked_sub(1)?);
    }
    if let Some(n) = lte {
        hi = hi.min(float_key(num_f64(n)));
    }
    (lo <= hi).then_some(lo..=hi)
}

/// The union of the bitmaps of every value in `r`. A range over a float field with distinct
/// values touches one tiny bitmap per row: roaring's multi-way union merges them in one pass
/// (pairwise `|=` reallocated for each of them: 100x slower on 600 one-row bitmaps).
fn union_range<K: Ord + Copy>(
    m: &BTreeMap<K, RoaringBitmap>,
    r: &RangeInclusive<K>,
) -> RoaringBitmap {
    m.range(r.clone()).map(|(_, b)| b).union()
}

impl Filter {
    /// Parses a filter AST (see the crate documentation) and checks it against `schema`.
    /// Errors are [`FilterError::InvalidFilter`] whose message starts with the path of the
    /// offending node, e.g. `c[1].v[0]: expected a string for keyword field "lang"`.
    pub fn parse(json: &str, schema: &Schema) -> Result<Filter> {
        let v: Json = serde_json::from_str(json)
            .map_err(|e| FilterError::InvalidFilter(format!("not valid JSON: {e}")))?;
        let mut p = Parser {
            schema,
            nodes: 0,
            values: 0,
        };
        let root = p.node(&v, "", 1)?;
        Ok(Filter {
            root,
            fingerprint: schema.fingerprint(),
        })
    }

    /// The exact set of live slots of `store` that match. A filter applies to stores of the
    /// schema it was parsed with; for a store of another schema the result is empty.
    pub fn evaluate(&self, store: &AttributeStore) -> RoaringBitmap {
        if store.schema().fingerprint() != self.fingerprint {
            return RoaringBitmap::new();
        }
        eval(&self.root, store)
    }
}

fn eval(n: &Node, store: &AttributeStore) -> RoaringBitmap {
    let live = store.live();
    let index = |f: usize| store.field_state(f).map(|fs| &fs.index);
    match n {
        Node::True => live.clone(),
        Node::And(c) => {
            let mut parts: Vec<RoaringBitmap> = Vec::with_capacity(c.len());
            for k in c {
                let b = eval(k, store);
                if b.is_empty() {
                    return b;
                }
                parts.push(b);
            }
            parts.sort_by_key(|b| b.len());
            let mut it = parts.into_iter();
            let mut acc = it.next().unwrap_or_default();
            for b in it {
                if acc.is_empty() {
                    break;
                }
                acc &= b;
            }
            acc
        }
        Node::Or(c) => {
            let mut acc = RoaringBitmap::new();
            for k in c {
                acc |= eval(k, store);
            }
            acc
        }
        Node::Not(c) => live - eval(c, store),
        Node::Exists(f) => store
            .field_state(*f)
            .map(|fs| fs.exists.clone())
            .unwrap_or_default(),
        Node::InKeyword(f, vals) => match index(*f) {
            Some(Index::Keyword(d)) => {
                let mut acc = RoaringBitmap::new();
                for s in vals {
                    if let Some(b) = d.lookup(s) {
                        acc |= b;
                    }
                }
                acc
            }
            _ => RoaringBitmap::new(),
        },
        Node::AllKeyword(f, vals) => match index(*f) {
            Some(Index::Keyword(d)) => {
                let mut acc: Option<RoaringBitmap> = None;
                for s in vals {
                    let Some(b) = d.lookup(s) else {
                        return RoaringBitmap::new();
                    };
                    acc = Some(match acc {
                        None => b.clone(),
                        Some(a) => a & b,
                    });
                }
                acc.unwrap_or_default()
            }
            _ => RoaringBitmap::new(),
        },
        Node::InInt(f, vals) => match index(*f) {
            Some(Index::Int(m)) => vals.iter().filter_map(|v| m.get(v)).union(),
            _ => RoaringBitmap::new(),
        },
        Node::InFloat(f, vals) => match index(*f) {
            Some(Index::Float(m)) => vals.iter().filter_map(|v| m.get(v)).union(),
            _ => RoaringBitmap::new(),
        },
        Node::InBool(f, want) => match index(*f) {
            Some(Index::Bool(b)) => {
                let mut acc = RoaringBitmap::new();
                for (i, w) in want.iter().enumerate() {
                    if *w {
                        if let Some(bm) = b.get(i) {
                            acc |= bm;
                        }
                    }
                }
                acc
            }
            _ => RoaringBitmap::new(),
        },
        Node::RangeInt(f, r) => match (index(*f), r) {
            (Some(Index::Int(m)), Some(r)) => union_range(m, r),
            _ => RoaringBitmap::new(),
        },
        Node::RangeFloat(f, r) => match (index(*f), r) {
            (Some(Index::Float(m)), Some(r)) => union_range(m, r),
            _ => RoaringBitmap::new(),
        },
    }
}
