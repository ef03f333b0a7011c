//! The attribute store: per-slot records plus the inverted indexes that filters read.

use std::collections::{BTreeMap, HashMap};
use std::mem::size_of;

use roaring::RoaringBitmap;
use serde_json::Value as Json;

use crate::codec::{checksum, verify_trailer, Reader};
use crate::error::{invalid_arg, Result};
use crate::schema::{FieldType, Schema};

/// The longest keyword string, in UTF-8 bytes, in records.
pub const MAX_KEYWORD_BYTES: usize = 1024;
/// The most strings one `keyword[]` value may hold (after merging duplicates the limit
/// still applies to the input array).
pub const MAX_KEYWORD_ARRAY_LEN: usize = 1024;
/// The largest magnitude of an `int` value: `Number.MAX_SAFE_INTEGER`, 2^53 - 1.
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

const MAGIC: &[u8; 4] = b"QVAT";
const VERSION: u8 = 1;

/// One attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A `keyword` value.
    Keyword(String),
    /// A `keyword[]` value: distinct strings in first-seen order.
    KeywordArray(Vec<String>),
    /// An `int` value, |n| <= [`MAX_SAFE_INTEGER`].
    Int(i64),
    /// A `float` value, always finite.
    Float(f64),
    /// A `bool` value.
    Bool(bool),
}

impl Value {
    fn ty(&self) -> FieldType {
        match self {
            Value::Keyword(_) => FieldType::Keyword,
            Value::KeywordArray(_) => FieldType::KeywordArray,
            Value::Int(_) => FieldType::Int,
            Value::Float(_) => FieldType::Float,
            Value::Bool(_) => FieldType::Bool,
        }
    }
}

/// The validated attributes of one row, made by [`AttributeStore::parse_batch`]. Field ids
/// are indexes into [`Schema::fields`] of the store's schema.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Record {
    values: Vec<(u8, Value)>,
}

impl Record {
    /// The value of field `field` (an index into [`Schema::fields`]), if present.
    pub fn get(&self, field: usize) -> Option<&Value> {
        self.values
            .binary_search_by_key(&field, |(f, _)| usize::from(*f))
            .ok()
            .and_then(|i| self.values.get(i))
            .map(|(_, v)| v)
    }

    /// The present values with their field ids, in field order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &Value)> {
        self.values.iter().map(|(f, v)| (usize::from(*f), v))
    }

    /// Whether no field has a value.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// A float's key in total order, with -0.0 and 0.0 mapped to the same key.
pub(crate) fn float_key(x: f64) -> u64 {
    let x = if x == 0.0 { 0.0 } else { x };
    let b = x.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

/// Keyword dictionary of one field: string -> id, one bitmap per id. An id whose bitmap
/// becomes empty is released and reused.
#[derive(Debug, Default)]
pub(crate) struct Dict {
    ids: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
    bitmaps: Vec<RoaringBitmap>,
    free: Vec<u32>,
}

impl Dict {
    /// Adds `slot` under `s`; returns the id and whether the slot was newly added.
    fn add(&mut self, s: &str, slot: u32) -> (u32, bool) {
        let id = match self.ids.get(s) {
            Some(&id) => id,
            None => {
                let id = match self.free.pop() {
                    Some(id) => {
                        if let Some(n) = self.names.get_mut(id as usize) {
                            *n = s.into();
                        }
                        id
                    }
                    None => {
                        let id = self.names.len() as u32;
                        self.names.push(s.into());
                        self.bitmaps.push(RoaringBitmap::new());
                        id
                    }
                };
                self.ids.insert(s.into(), id);
                id
            }
        };
        let added = self
            .bitmaps
            .get_mut(id as usize)
            .is_some_and(|b| b.insert(slot));
        (id, added)
    }

    fn remove(&mut self, id: u32, slot: u32) {
        let Some(b) = self.bitmaps.get_mut(id as usize) else {
            return;
        };
        b.remove(slot);
        if b.is_empty() {
            if let Some(n) = self.names.get_mut(id as usize) {
                let name = std::mem::take(n);
                self.ids.remove(&name);
                self.free.push(id);
            }
        }
    }

    /// Copies of the tables with room for `new` more keywords (the ones absent now), those
    /// that lack it.
    fn room_for(&self, new: usize) -> DictRoom {
        let pushed = new.saturating_sub(self.free.len());
        DictRoom {
            ids: quiver_grow::map_with_room(&self.ids, new),
            names: quiver_grow::vec_with_room(&self.names, pushed),
            bitmaps: quiver_grow::vec_with_room(&self.bitmaps, pushed),
        }
    }

    fn make_room(&mut self, room: &mut DictRoom) {
        quiver_grow::swap_in(&mut self.ids, &mut room.ids);
        quiver_grow::swap_in(&mut self.names, &mut room.names);
        quiver_grow::swap_in(&mut self.bitmaps, &mut room.bitmaps);
    }

    pub(crate) fn lookup(&self, s: &str) -> Option<&RoaringBitmap> {
        self.ids
            .get(s)
            .and_then(|&id| self.bitmaps.get(id as usize))
    }

    fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", |n| n)
    }

    fn memory_usage(&self) -> usize {
        let strings: usize = self.names.iter().map(|n| n.len()).sum();
        let bitmaps: usize = self.bitmaps.iter().map(|b| b.serialized_size()).sum();
        // each string is held twice (map key and name table)
        2 * strings
            + bitmaps
            + self.ids.capacity() * (size_of::<Box<str>>() + size_of::<u32>() + 8)
            + self.names.capacity() * size_of::<Box<str>>()
            + self.bitmaps.capacity() * size_of::<RoaringBitmap>()
            + self.free.capacity() * size_of::<u32>()
    }
}

/// The inverted index of one field.
#[derive(Debug)]
pub(crate) enum Index {
    /// `keyword` and `keyword[]`.
    Keyword(Dict),
    /// `int`: value -> slots.
    Int(BTreeMap<i64, RoaringBitmap>),
    /// `float`: [`float_key`] -> slots.
    Float(BTreeMap<u64, RoaringBitmap>),
    /// `bool`: slots with false, slots with true.
    Bool([RoaringBitmap; 2]),
}

#[derive(Debug)]
pub(crate) struct FieldState {
    pub(crate) exists: RoaringBitmap,
    pub(crate) index: Index,
}

/// A stored value: keywords as dictionary ids.
#[derive(Clone, Debug)]
enum Stored {
    Keyword(u32),
    KeywordArray(Box<[u32]>),
    Int(i64),
    Float(f64),
    Bool(bool),
}

fn remove_from_map<K: Ord>(m: &mut BTreeMap<K, RoaringBitmap>, k: K, slot: u32) {
    if let Some(b) = m.get_mut(&k) {
        b.remove(slot);
        if b.is_empty() {
            m.remove(&k);
        }
    }
}

fn map_memory<K>(m: &BTreeMap<K, RoaringBitmap>) -> usize {
    m.values()
        .map(|b| b.serialized_size() + size_of::<K>() + size_of::<RoaringBitmap>() + 16)
        .sum()
}

/// Each live slot's stored values, by field id.
type Forward = HashMap<u32, Box<[(u8, Stored)]>>;

/// Copies of one keyword dictionary's tables with room for a write.
#[derive(Debug, Default)]
struct DictRoom {
    ids: Option<HashMap<Box<str>, u32>>,
    names: Option<Vec<Box<str>>>,
    bitmaps: Option<Vec<RoaringBitmap>>,
}

/// Copies of an [`AttributeStore`]'s growable tables (the per-slot records and the keyword
/// dictionaries) with room for a write, made by [`AttributeStore::room_for`] while readers go
/// on and put in place by [`AttributeStore::make_room`].
#[derive(Debug, Default)]
pub struct AttributeRoom {
    forward: Option<Forward>,
    /// By field position; `None` for a field that is not a keyword field.
    dicts: Vec<Option<DictRoom>>,
}

impl AttributeRoom {
    /// Whether no table needed a copy (every table had room already).
    pub fn is_empty(&self) -> bool {
        self.forward.is_none()
            && self
                .dicts
                .iter()
                .flatten()
                .all(|d| d.ids.is_none() && d.names.is_none() && d.bitmaps.is_none())
    }
}

/// Per-slot attributes with inverted indexes. See the crate documentation for the layout.
#[derive(Debug)]
pub struct AttributeStore {
    schema: Schema,
    fields: Vec<FieldState>,
    forward: Forward,
    live: RoaringBitmap,
}

fn parse_keyword(v: &Json, at: &dyn Fn() -> String) -> Result<String> {
    let s = v
        .as_str()
        .ok_or_else(|| invalid_arg(format!("{}: expected a keyword string", at())))?;
    if s.len() > MAX_KEYWORD_BYTES {
        return Err(invalid_arg(format!(
            "{}: keyword of {} bytes exceeds the limit of {MAX_KEYWORD_BYTES}",
            at(),
            s.len()
        )));
    }
    Ok(s.to_owned())
}

/// Converts a JSON number to a safe integer, if it is one (integral and |n| <= 2^53 - 1).
pub(crate) fn safe_int(n: &serde_json::Number) -> Option<i64> {
    let i = if let Some(i) = n.as_i64() {
        i
    } else if n.as_u64().is_some() {
        return None;
    } else {
        let x = n.as_f64()?;
        if !x.is_finite() || x.fract() != 0.0 || x.abs() > MAX_SAFE_INTEGER as f64 {
            return None;
        }
        x as i64
    };
    (i.abs() <= MAX_SAFE_INTEGER).then_some(i)
}

fn parse_value(v: &Json, ty: FieldType, at: &dyn Fn() -> String) -> Result<Value> {
    Ok(match ty {
        FieldType::Keyword => Value::Keyword(parse_keyword(v, at)?),
        FieldType::KeywordArray => {
            let arr = v
                .as_array()
                .ok_or_else(|| invalid_arg(format!("{}: expected an array of strings", at())))?;
            if arr.len() > MAX_KEYWORD_ARRAY_LEN {
                return Err(invalid_arg(format!(
                    "{}: {} strings exceed the limit of {MAX_KEYWORD_ARRAY_LEN}",
                    at(),
                    arr.len()
                )));
            }
            let mut out: Vec<String> = Vec::with_capacity(arr.len());
            let mut seen = std::collections::HashSet::with_capacity(arr.len());
            for (i, e) in arr.iter().enumerate() {
                let s = parse_keyword(e, &|| format!("{}[{i}]", at()))?;
                if seen.insert(s.clone()) {
                    out.push(s);
                }
            }
            Value::KeywordArray(out)
        }
        FieldType::Int => {
            let n = v
                .as_number()
                .ok_or_else(|| invalid_arg(format!("{}: expected an integer", at())))?;
            Value::Int(safe_int(n).ok_or_else(|| {
                invalid_arg(format!(
                    "{}: {n} is not a safe integer (integral, |n| <= 2^53 - 1)",
                    at()
                ))
            })?)
        }
        FieldType::Float => {
            let x = v
                .as_f64()
                .ok_or_else(|| invalid_arg(format!("{}: expected a number", at())))?;
            if !x.is_finite() {
                return Err(invalid_arg(format!("{}: expected a finite number", at())));
            }
            Value::Float(x)
        }
        FieldType::Bool => Value::Bool(
            v.as_bool()
                .ok_or_else(|| invalid_arg(format!("{}: expected a boolean", at())))?,
        ),
    })
}

impl AttributeStore {
    /// An empty store for `schema`.
    pub fn new(schema: Schema) -> AttributeStore {
        let fields = schema
            .fields()
            .iter()
            .map(|f| FieldState {
                exists: RoaringBitmap::new(),
                index: match f.ty {
                    FieldType::Keyword | FieldType::KeywordArray => Index::Keyword(Dict::default()),
                    FieldType::Int => Index::Int(BTreeMap::new()),
                    FieldType::Float => Index::Float(BTreeMap::new()),
                    FieldType::Bool => Index::Bool([RoaringBitmap::new(), RoaringBitmap::new()]),
                },
            })
            .collect();
        AttributeStore {
            schema,
            fields,
            forward: HashMap::new(),
            live: RoaringBitmap::new(),
        }
    }

    /// The schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Parses and validates a JSON array of exactly `n` entries, each an object of field
    /// values or `null` (no attributes). A `null` field value means the field is missing.
    /// Every entry is validated before this returns, so a caller that stores nothing on
    /// `Err` stores a batch atomically. Errors are [`crate::FilterError::InvalidArgument`]
    /// naming the entry index and field.
    pub fn parse_batch(&self, json: &str, n: usize) -> Result<Vec<Record>> {
        let v: Json = serde_json::from_str(json)
            .map_err(|e| invalid_arg(format!("attributes: not valid JSON: {e}")))?;
        let arr = v
            .as_array()
            .ok_or_else(|| invalid_arg("attributes: expected a JSON array"))?;
        if arr.len() != n {
            return Err(invalid_arg(format!(
                "attributes: expected {n} entries, got {}",
                arr.len()
            )));
        }
        let mut out = Vec::with_capacity(arr.len());
        for (i, e) in arr.iter().enumerate() {
            let obj = match e {
                Json::Null => {
                    out.push(Record::default());
                    continue;
                }
                Json::Object(o) => o,
                _ => {
                    return Err(invalid_arg(format!(
                        "attributes[{i}]: expected an object or null"
                    )))
                }
            };
            let mut values = Vec::with_capacity(obj.len());
            for (name, fv) in obj {
                let Some((fi, ty)) = self.schema.field(name) else {
                    return Err(invalid_arg(format!(
                        "attributes[{i}]: undeclared field \"{name}\""
                    )));
                };
                if fv.is_null() {
                    continue;
                }
                let at = || format!("attributes[{i}].{name}");
                let val = parse_value(fv, ty, &at)?;
                values.push((fi as u8, val));
            }
            values.sort_by_key(|(f, _)| *f);
            out.push(Record { values });
        }
        Ok(out)
    }

    /// Copies of the tables that lack room for `rows` more records, of which `records` are
    /// known (their keywords may be new to the dictionaries), or an empty room. Takes only
    /// `&self`: an index makes it while searches go on, so that [`set`](Self::set) then
    /// grows no table under its exclusive lock.
    pub fn room_for(&self, records: &[Record], rows: usize) -> AttributeRoom {
        let dicts = self
            .fields
            .iter()
            .enumerate()
            .map(|(fi, fs)| {
                let Index::Keyword(d) = &fs.index else {
                    return None;
                };
                let mut new = std::collections::HashSet::new();
                for rec in records {
                    let words: &[String] = match rec.get(fi) {
                        Some(Value::Keyword(w)) => std::slice::from_ref(w),
                        Some(Value::KeywordArray(ws)) => ws,
                        _ => &[],
                    };
                    new.extend(
                        words
                            .iter()
                            .map(String::as_str)
                            .filter(|w| !d.ids.contains_key(*w)),
                    );
                }
                Some(d.room_for(new.len()))
            })
            .collect();
        AttributeRoom {
            forward: quiver_grow::map_with_room(&self.forward, rows),
            dicts,
        }
    }

    /// Puts the copies from [`room_for`](Self::room_for) in place (pointer swaps), each unless
    /// a write changed its table in between; `room` is left holding the old tables, to be
    /// dropped outside the caller's lock.
    pub fn make_room(&mut self, room: &mut AttributeRoom) {
        quiver_grow::swap_in(&mut self.forward, &mut room.forward);
        for (fs, dict) in self.fields.iter_mut().zip(room.dicts.iter_mut()) {
            if let (Index::Keyword(d), Some(r)) = (&mut fs.index, dict) {
                d.make_room(r);
            }
        }
    }

    /// Stores `rec` as the attributes of `slot`, replacing any earlier ones, and makes the
    /// slot live. Values whose field id or type does not fit this store's schema (a record
    /// parsed by a store of another schema) are skipped. Costs O(values · log).
    pub fn set(&mut self, slot: u32, rec: &Record) {
        self.clear(slot);
        let mut stored: Vec<(u8, Stored)> = Vec::with_capacity(rec.values.len());
        for (f, v) in &rec.values {
            let fi = usize::from(*f);
            let Some(ty) = self.schema.fields().get(fi).map(|fd| fd.ty) else {
                continue;
            };
            if ty != v.ty() || stored.last().is_some_and(|(p, _)| p >= f) {
                continue;
            }
            let Some(fs) = self.fields.get_mut(fi) else {
                continue;
            };
            let s = match (&mut fs.index, v) {
                (Index::Keyword(d), Value::Keyword(s)) => Stored::Keyword(d.add(s, slot).0),
                (Index::Keyword(d), Value::KeywordArray(a)) => {
                    let mut ids = Vec::with_capacity(a.len());
                    for s in a {
                        let (id, added) = d.add(s, slot);
                        if added {
                            ids.push(id);
                        }
                    }
                    Stored::KeywordArray(ids.into_boxed_slice())
                }
                (Index::Int(m), Value::Int(i)) => {
                    m.entry(*i).or_default().insert(slot);
                    Stored::Int(*i)
                }
                (Index::Float(m), Value::Float(x)) => {
                    m.entry(float_key(*x)).or_default().insert(slot);
                    Stored::Float(*x)
                }
                (Index::Bool(b), Value::Bool(x)) => {
                    b[usize::from(*x)].insert(slot);
                    Stored::Bool(*x)
                }
                _ => continue,
            };
            fs.exists.insert(slot);
            stored.push((*f, s));
        }
        self.forward.insert(slot, stored.into_boxed_slice());
        self.live.insert(slot);
    }

    /// Removes every attribute of `slot` and makes it not live. Costs O(values · log).
    pub fn clear(&mut self, slot: u32) {
        let Some(old) = self.forward.remove(&slot) else {
            return;
        };
        self.live.remove(slot);
        for (f, s) in old.iter() {
            let Some(fs) = self.fields.get_mut(usize::from(*f)) else {
                continue;
            };
            fs.exists.remove(slot);
            match (&mut fs.index, s) {
                (Index::Keyword(d), Stored::Keyword(id)) => d.remove(*id, slot),
                (Index::Keyword(d), Stored::KeywordArray(ids)) => {
                    for id in ids.iter() {
                        d.remove(*id, slot);
                    }
                }
                (Index::Int(m), Stored::Int(i)) => remove_from_map(m, *i, slot),
                (Index::Float(m), Stored::Float(x)) => remove_from_map(m, float_key(*x), slot),
                (Index::Bool(b), Stored::Bool(x)) => {
                    b[usize::from(*x)].remove(slot);
                }
                _ => {}
            }
        }
    }

    /// The record of `slot`, if the slot is live.
    pub fn get(&self, slot: u32) -> Option<Record> {
        let stored = self.forward.get(&slot)?;
        let mut values = Vec::with_capacity(stored.len());
        for (f, s) in stored.iter() {
            let v = match (self.fields.get(usize::from(*f)).map(|fs| &fs.index), s) {
                (Some(Index::Keyword(d)), Stored::Keyword(id)) => {
                    Value::Keyword(d.name(*id).to_owned())
                }
                (Some(Index::Keyword(d)), Stored::KeywordArray(ids)) => {
                    Value::KeywordArray(ids.iter().map(|id| d.name(*id).to_owned()).collect())
                }
                (_, Stored::Int(i)) => Value::Int(*i),
                (_, Stored::Float(x)) => Value::Float(*x),
                (_, Stored::Bool(b)) => Value::Bool(*b),
                _ => continue,
            };
            values.push((*f, v));
        }
        Some(Record { values })
    }

    /// The attributes of `slot` as a JSON object (fields without a value omitted), if the
    /// slot is live.
    pub fn get_json(&self, slot: u32) -> Option<String> {
        let rec = self.get(slot)?;
        let mut m = serde_json::Map::new();
        for (f, v) in rec.iter() {
            let Some(fd) = self.schema.fields().get(f) else {
                continue;
            };
            let j = match v {
                Value::Keyword(s) => Json::from(s.as_str()),
                Value::KeywordArray(a) => Json::from(a.clone()),
                Value::Int(i) => Json::from(*i),
                Value::Float(x) => Json::from(*x),
                Value::Bool(b) => Json::from(*b),
            };
            m.insert(fd.name.clone(), j);
        }
        Some(Json::Object(m).to_string())
    }

    /// Whether `slot` is live (has been [`set`](Self::set), even with an empty record).
    pub fn contains(&self, slot: u32) -> bool {
        self.live.contains(slot)
    }

    /// Every live slot: the universe that `not` complements against.
    pub fn live(&self) -> &RoaringBitmap {
        &self.live
    }

    /// The number of live slots.
    pub fn len(&self) -> usize {
        self.live.len() as usize
    }

    /// Whether no slot is live.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    pub(crate) fn field_state(&self, field: usize) -> Option<&FieldState> {
        self.fields.get(field)
    }

    /// An estimate of the heap bytes held: bitmaps at their serialized size, dictionaries,
    /// the numeric trees and the forward records with hash-table overhead.
    pub fn memory_usage(&self) -> usize {
        let mut total = self.live.serialized_size();
        for fs in &self.fields {
            total += fs.exists.serialized_size();
            total += match &fs.index {
                Index::Keyword(d) => d.memory_usage(),
                Index::Int(m) => map_memory(m),
                Index::Float(m) => map_memory(m),
                Index::Bool(b) => b[0].serialized_size() + b[1].serialized_size(),
            };
        }
        total +=
            self.forward.capacity() * (size_of::<u32>() + size_of::<Box<[(u8, Stored)]>>() + 8);
        for r in self.forward.values() {
            total += r.len() * size_of::<(u8, Stored)>();
            for (_, s) in r.iter() {
                if let Stored::KeywordArray(ids) = s {
                    total += ids.len() * size_of::<u32>();
                }
            }
        }
        total
    }

    /// Serializes the forward records (the indexes are rebuilt by [`decode`](Self::decode)):
    ///
    /// `"QVAT"`, version `u8` = 1, schema fingerprint `u64`, record count `u32`, then per
    /// record in ascending slot order: slot `u32`, value count `u8`, and per value in
    /// ascending field order: field id `u8` and the value (keyword: `u16` length + UTF-8;
    /// keyword[]: `u16` count + that many keywords; int: `i64`; float: `f64` bits; bool:
    /// `u8` 0/1); last a `u64` checksum of everything before it. All little-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&self.schema.fingerprint().to_le_bytes());
        out.extend_from_slice(&(self.forward.len() as u32).to_le_bytes());
        let mut slots: Vec<u32> = self.forward.keys().copied().collect();
        slots.sort_unstable();
        let put_str = |out: &mut Vec<u8>, s: &str| {
            out.extend_from_slice(&(s.len() as u16).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        };
        for slot in slots {
            let Some(rec) = self.get(slot) else { continue };
            out.extend_from_slice(&slot.to_le_bytes());
            out.push(rec.values.len() as u8);
            for (f, v) in &rec.values {
                out.push(*f);
                match v {
                    Value::Keyword(s) => put_str(&mut out, s),
                    Value::KeywordArray(a) => {
                        out.extend_from_slice(&(a.len() as u16).to_le_bytes());
                        for s in a {
                            put_str(&mut out, s);
                        }
                    }
                    Value::Int(i) => out.extend_from_slice(&i.to_le_bytes()),
                    Value::Float(x) => out.extend_from_slice(&x.to_bits().to_le_bytes()),
                    Value::Bool(b) => out.push(u8::from(*b)),
                }
            }
        }
        let sum = checksum(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// Reads bytes written by [`encode`](Self::encode) for a store of `schema`. The bytes
    /// are untrusted: the checksum, the structure, every limit of [`parse_batch`](Self::parse_batch)
    /// and `slot < max_slots` are checked, and every failure is
    /// [`crate::FilterError::Corrupt`]. Allocation is bounded by the input's length.
    pub fn decode(bytes: &[u8], schema: &Schema, max_slots: u32) -> Result<AttributeStore> {
        const WHAT: &str = "attribute store";
        let body = verify_trailer(bytes, WHAT)?;
        let mut r = Reader::new(body, WHAT);
        if r.take(4)? != MAGIC {
            return Err(r.err("bad magic"));
        }
        let version = r.u8()?;
        if version != VERSION {
            return Err(r.err(format!("unsupported version {version}")));
        }
        if r.u64()? != schema.fingerprint() {
            return Err(r.err("written for a different schema"));
        }
        let count = r.u32()? as usize;
        if count > r.remaining() / 5 {
            return Err(r.err(format!("{count} records cannot fit in the bytes left")));
        }
        let mut store = AttributeStore::new(schema.clone());
        let mut prev: Option<u32> = None;
        for _ in 0..count {
            let slot = r.u32()?;
            // `u32::MAX` as the bound admits every slot (stores keyed by user keys).
            if slot >= max_slots && max_slots != u32::MAX {
                return Err(r.err(format!("slot {slot} is not below {max_slots}")));
            }
            if prev.is_some_and(|p| p >= slot) {
                return Err(r.err(format!("slot {slot} out of order")));
            }
            prev = Some(slot);
            let n = usize::from(r.u8()?);
            if n > schema.len() {
                return Err(r.err(format!("{n} values for {} fields", schema.len())));
            }
            let mut values = Vec::with_capacity(n);
            let mut prev_f: Option<u8> = None;
            for _ in 0..n {
                let f = r.u8()?;
                if prev_f.is_some_and(|p| p >= f) {
                    return Err(r.err(format!("field {f} out of order")));
                }
                prev_f = Some(f);
                let Some(ty) = schema.fields().get(usize::from(f)).map(|fd| fd.ty) else {
                    return Err(r.err(format!("field id {f} out of range")));
                };
                values.push((f, read_value(&mut r, ty)?));
            }
            store.set(slot, &Record { values });
        }
        if r.remaining() != 0 {
            return Err(r.err("trailing bytes"));
        }
        Ok(store)
    }
}

fn read_str(r: &mut Reader<'_>) -> Result<String> {
    let len = usize::from(r.u16()?);
    if len > MAX_KEYWORD_BYTES {
        return Err(r.err(format!("keyword of {len} bytes exceeds the limit")));
    }
    let b = r.take(len)?;
    match std::str::from_utf8(b) {
        Ok(s) => Ok(s.to_owned()),
        Err(_) => Err(r.err("keyword is not UTF-8")),
    }
}

fn read_value(r: &mut Reader<'_>, ty: FieldType) -> Result<Value> {
    Ok(match ty {
        FieldType::Keyword => Value::Keyword(read_str(r)?),
        FieldType::KeywordArray => {
            let n = usize::from(r.u16()?);
            if n > MAX_KEYWORD_ARRAY_LEN || n > r.remaining() / 2 {
                return Err(r.err(format!("keyword array of {n} strings")));
            }
            let mut a: Vec<String> = Vec::with_capacity(n);
            let mut seen = std::collections::HashSet::with_capacity(n);
            for _ in 0..n {
                let s = read_str(r)?;
                if !seen.insert(s.clone()) {
                    return Err(r.err("duplicate string in keyword array"));
                }
                a.push(s);
            }
            Value::KeywordArray(a)
        }
        FieldType::Int => {
            let i = r.u64()? as i64;
            if i.unsigned_abs() > MAX_SAFE_INTEGER as u64 {
                return Err(r.err(format!("int {i} out of the safe range")));
            }
            Value::Int(i)
        }
        FieldType::Float => {
            let x = f64::from_bits(r.u64()?);
            if !x.is_finite() {
                return Err(r.err("non-finite float"));
            }
            Value::Float(x)
        }
        FieldType::Bool => match r.u8()? {
            0 => Value::Bool(false),
            1 => Value::Bool(true),
            b => return Err(r.err(format!("bool byte {b}"))),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> AttributeStore {
        AttributeStore::new(
            Schema::new([
                ("tag".to_string(), FieldType::Keyword),
                ("tags".to_string(), FieldType::KeywordArray),
                ("year".to_string(), FieldType::Int),
            ])
            .unwrap(),
        )
    }

    /// Records whose keywords are all new: a unique `tag`, two unique `tags` per record.
    fn batch(s: &AttributeStore, from: u32, n: u32) -> Vec<Record> {
        let json: Vec<String> = (from..from + n)
            .map(|i| {
                format!(
                    r#"{{"tag":"t{i}","tags":["a{i}","b{i}"],"year":{}}}"#,
                    i % 50
                )
            })
            .collect();
        s.parse_batch(&format!("[{}]", json.join(",")), n as usize)
            .unwrap()
    }

    fn capacities(s: &AttributeStore) -> Vec<usize> {
        let mut out = vec![s.forward.capacity()];
        for fs in &s.fields {
            if let Index::Keyword(d) = &fs.index {
                out.extend([d.ids.capacity(), d.names.capacity(), d.bitmaps.capacity()]);
            }
        }
        out
    }

    /// After a room made for a batch, writing the batch grows no table: the record map and
    /// every keyword dictionary had room for it, new keywords included.
    #[test]
    fn room_made_beforehand_keeps_sets_from_growing_any_table() {
        let mut s = store();
        let mut next = 0u32;
        for round in 0..11 {
            let n = 1u32 << round;
            let records = batch(&s, next, n);
            let mut room = s.room_for(&records, records.len());
            s.make_room(&mut room);
            drop(room);
            let before = capacities(&s);
            for (i, rec) in records.iter().enumerate() {
                s.set(next + i as u32, rec);
            }
            assert_eq!(
                capacities(&s),
                before,
                "round {round}: a table grew in place"
            );
            next += n;
        }
        // Same answers as a store written without rooms.
        let mut plain = store();
        let all = batch(&plain, 0, next);
        for (i, rec) in all.iter().enumerate() {
            plain.set(i as u32, rec);
        }
        for slot in (0..next).step_by(37) {
            assert_eq!(s.get(slot), plain.get(slot), "slot {slot}");
        }
        assert_eq!(s.encode(), plain.encode());
    }

    /// A room made before another write is stale and is refused, table by table.
    #[test]
    fn a_stale_room_is_refused() {
        let mut s = store();
        let first = batch(&s, 0, 4);
        let mut room = s.room_for(&first, 1000);
        s.set(0, &first[0]);
        s.make_room(&mut room);
        assert!(
            s.forward.capacity() < 1000,
            "the stale record map was not swapped in"
        );
        for (i, rec) in first.iter().enumerate().skip(1) {
            s.set(i as u32, rec);
        }
        assert_eq!(s.get(0), Some(first[0].clone()));
        assert_eq!(s.get(3), Some(first[3].clone()));
    }
}
