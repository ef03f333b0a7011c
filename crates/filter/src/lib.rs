//! Per-row metadata of quiver-search: attributes that filters test, payloads that come
//! back with results, and the filter evaluator.
//!
//! Rows are addressed by the index's internal row ids ("slots", `u32`, reused after a
//! remove). This crate depends on no other crate of the workspace.
//!
//! # Schema
//!
//! A [`Schema`] is a JSON object of field names to types: `keyword` (one string),
//! `keyword[]` (a set of strings), `int` (a safe integer, |n| <= 2^53 - 1; datetimes are
//! int milliseconds), `float` (a finite `f64`) and `bool`. At most [`MAX_FIELDS`] fields,
//! names of 1..=[`MAX_FIELD_NAME_BYTES`] bytes. Fields are sorted by name; a field's
//! position is its id.
//!
//! # Attribute layout
//!
//! [`AttributeStore`] keeps, per field:
//! - an `exists` bitmap of the slots that have a value;
//! - `keyword` / `keyword[]`: a dictionary string -> `u32` id with one `RoaringBitmap` per
//!   id (ids of values no slot holds any more are released and reused);
//! - `int`: a `BTreeMap<i64, RoaringBitmap>`; `float`: a `BTreeMap<u64, RoaringBitmap>`
//!   keyed by the float's total-order key (-0.0 and 0.0 share a key), so a range is a union
//!   over a tree range, never a scan of rows;
//! - `bool`: two bitmaps.
//!
//! Besides, a forward record per slot (keywords as dictionary ids) serves
//! [`AttributeStore::get_json`] and lets `set`/`clear` update the bitmaps in
//! O(values of that slot · log). The `live` bitmap holds every slot that has been set,
//! even with an empty record. Persistence ([`AttributeStore::encode`]) writes only the
//! forward records with the schema fingerprint; decoding validates them and rebuilds the
//! bitmaps, so the indexes are consistent by construction.
//!
//! # Filter AST
//!
//! The TypeScript layer compiles a Mongo-style filter into this JSON, which [`Filter::parse`]
//! re-validates against the schema:
//!
//! | node | meaning |
//! |---|---|
//! | `{"t":"and","c":[node,...]}` | all children match (`c` non-empty) |
//! | `{"t":"or","c":[node,...]}` | any child matches (`c` non-empty) |
//! | `{"t":"not","c":node}` | live slots where the child does not match |
//! | `{"t":"in","f":field,"v":[...]}` | the field equals any of the values; for `keyword[]`, the row holds any of them |
//! | `{"t":"all","f":field,"v":[...]}` | `keyword[]` only: the row holds all of the strings |
//! | `{"t":"range","f":field,"gt":x,"gte":x,"lt":x,"lte":x}` | `int`/`float` only, at least one bound |
//! | `{"t":"exists","f":field}` | the field has a value |
//! | `{"t":"true"}` | every live slot |
//!
//! Values: strings for `keyword`/`keyword[]`, numbers for `int` (integral only) and `float`
//! (any finite number), booleans for `bool`; `v` is non-empty. Range bounds are finite
//! numbers; on an `int` field a fractional bound means the mathematically exact thing
//! (`gt 2.5` is `gte 3`). `-0.0` equals `0.0`. A keyword never stored, or an integer beyond
//! `i64`, matches nothing. Semantics follow MongoDB: `$ne`/`$nin` arrive as `not(in)` and so
//! match rows where the field is missing; `not` complements against
//! [`AttributeStore::live`]. A missing field matches no `in`, `all` or `range`. Unknown keys
//! are errors. Limits: nesting depth [`MAX_FILTER_DEPTH`] (the root is depth 1),
//! [`MAX_FILTER_NODES`] nodes, [`MAX_FILTER_VALUES`] values in all. Errors name the path of
//! the offending node, e.g. `c[1].v[0]: expected a string for keyword field "lang"`.
//!
//! # Payloads
//!
//! [`PayloadStore`] holds optional bytes per slot (UTF-8, at most [`MAX_PAYLOAD_BYTES`]).
//! Its persisted form is an entry table plus one data arena; [`PayloadStore::from_source`]
//! validates it once and then serves payloads straight from a [`ByteSource`] such as a
//! memory mapping, with later changes in an in-memory overlay.
//!
//! # Errors
//!
//! Every fallible function returns a [`FilterError`]: `InvalidFilter` for filters,
//! `InvalidArgument` for schemas, records and payloads, `Corrupt` for persisted bytes.
//! Decoding never panics on any input.

#![warn(missing_docs)]

mod attrs;
mod codec;
mod error;
mod filter;
mod payload;
mod schema;

pub use attrs::{
    AttributeRoom, AttributeStore, Record, Value, MAX_KEYWORD_ARRAY_LEN, MAX_KEYWORD_BYTES,
    MAX_SAFE_INTEGER,
};
pub use error::{FilterError, Result};
pub use filter::{Filter, MAX_FILTER_DEPTH, MAX_FILTER_NODES, MAX_FILTER_VALUES};
pub use payload::{ByteSource, PayloadRoom, PayloadStore, MAX_PAYLOAD_BYTES};
pub use roaring::RoaringBitmap;
pub use schema::{Field, FieldType, Schema, MAX_FIELDS, MAX_FIELD_NAME_BYTES};
