//! Per-row metadata of an index: attributes that filters test and payloads that come back
//! with hits, both addressed by slot (see `quiver_filter` for the stores and the filter
//! language). An index declares them once (`attributes` schema, `payload` flag); every add or
//! upsert then writes the rows' metadata together with their vectors, and every remove clears
//! it, so a slot's metadata always belongs to the key that holds the slot.

use quiver_filter::{
    AttributeRoom, AttributeStore, ByteSource, Filter, FilterError, PayloadRoom, PayloadStore,
    Record, RoaringBitmap, Schema,
};

use crate::error::{err, Error, Result};

/// What an index stores besides vectors.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetaConfig {
    /// Declared attribute fields, if any.
    pub attributes: Option<Schema>,
    /// Whether each key may carry a payload.
    pub payload: bool,
}

/// Metadata of one add/upsert call, as the host passes it (aligned with the call's keys).
#[derive(Clone, Copy, Debug, Default)]
pub struct MetaInput<'a> {
    /// A JSON array of one attribute object (or `null`) per key.
    pub attributes: Option<&'a str>,
    /// One payload (JSON text) or `None` per key.
    pub payloads: Option<&'a [Option<String>]>,
}

/// A call's metadata after validation, ready to be written row by row.
#[derive(Debug, Default)]
pub struct MetaBatch {
    records: Option<Vec<Record>>,
    payloads: Option<Vec<Option<Vec<u8>>>>,
}

impl MetaBatch {
    /// Rows `range` of this batch (for a write applied in chunks).
    pub fn slice(&self, range: std::ops::Range<usize>) -> MetaBatch {
        MetaBatch {
            records: self
                .records
                .as_ref()
                .map(|r| r.get(range.clone()).unwrap_or_default().to_vec()),
            payloads: self
                .payloads
                .as_ref()
                .map(|p| p.get(range.clone()).unwrap_or_default().to_vec()),
        }
    }
}

/// Copies of the metadata tables with room for a write (see [`Meta::room_for`]).
#[derive(Debug, Default)]
pub struct MetaRoom {
    attrs: AttributeRoom,
    payloads: PayloadRoom,
}

impl MetaRoom {
    /// Whether every table had room already (nothing was copied).
    pub fn is_empty(&self) -> bool {
        self.attrs.is_empty() && self.payloads.is_empty()
    }
}

/// The persisted attribute schema (JSON) and records.
pub(crate) type AttributeSections = (Vec<u8>, Vec<u8>);

/// The metadata stores of one index.
#[derive(Debug, Default)]
pub struct Meta {
    attrs: Option<AttributeStore>,
    payloads: Option<PayloadStore>,
}

/// Maps a filter-crate error to the engine's codes (`what` prefixes the message).
pub(crate) fn filter_error(e: FilterError, what: &str) -> Error {
    match e {
        FilterError::InvalidFilter(m) => err!(InvalidFilter, "{what}{m}"),
        FilterError::InvalidArgument(m) => err!(InvalidArgument, "{what}{m}"),
        FilterError::Corrupt(m) => err!(CorruptFile, "{what}{m}"),
    }
}

impl Meta {
    /// Empty stores for `config`.
    pub fn new(config: &MetaConfig) -> Self {
        Meta {
            attrs: config.attributes.clone().map(AttributeStore::new),
            payloads: config.payload.then(PayloadStore::new),
        }
    }

    /// What this index stores besides vectors.
    pub fn config(&self) -> MetaConfig {
        MetaConfig {
            attributes: self.attrs.as_ref().map(|a| a.schema().clone()),
            payload: self.payloads.is_some(),
        }
    }

    /// Whether attributes are declared.
    pub fn has_attributes(&self) -> bool {
        self.attrs.is_some()
    }

    /// Validates a call's metadata for `n` keys; nothing is written.
    pub fn prepare(&self, input: &MetaInput<'_>, n: usize) -> Result<MetaBatch> {
        let records = match (input.attributes, &self.attrs) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(err!(
                    InvalidArgument,
                    "attributes were given but the index declares none (set `attributes` in its options)"
                ))
            }
            (Some(json), Some(store)) => Some(
                store
                    .parse_batch(json, n)
                    .map_err(|e| filter_error(e, ""))?,
            ),
        };
        let payloads = match (input.payloads, &self.payloads) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(err!(
                    InvalidArgument,
                    "payloads were given but the index was created without `payload: true`"
                ))
            }
            (Some(p), Some(_)) => {
                if p.len() != n {
                    return Err(err!(
                        InvalidArgument,
                        "{n} keys need {n} payloads, got {}",
                        p.len()
                    ));
                }
                let mut out = Vec::with_capacity(n);
                for (i, v) in p.iter().enumerate() {
                    if let Some(v) = v {
                        PayloadStore::validate(v.as_bytes())
                            .map_err(|e| filter_error(e, &format!("payloads[{i}]: ")))?;
                    }
                    out.push(v.as_ref().map(|s| s.as_bytes().to_vec()));
                }
                Some(out)
            }
        };
        Ok(MetaBatch { records, payloads })
    }

    /// Copies of the tables that lack room for rows `rows` of `batch`, made while searches go
    /// on, so that writing the rows grows no table under the exclusive lock.
    pub(crate) fn room_for(&self, batch: &MetaBatch, rows: std::ops::Range<usize>) -> MetaRoom {
        let records = batch
            .records
            .as_deref()
            .and_then(|r| r.get(rows.clone()))
            .unwrap_or_default();
        MetaRoom {
            attrs: self
                .attrs
                .as_ref()
                .map(|a| a.room_for(records, rows.len()))
                .unwrap_or_default(),
            payloads: self
                .payloads
                .as_ref()
                .map(|p| p.room_for(rows.len()))
                .unwrap_or_default(),
        }
    }

    /// Puts copies from [`Meta::room_for`] in place; `room` keeps the old tables.
    pub(crate) fn make_room(&mut self, room: &mut MetaRoom) {
        if let Some(a) = &mut self.attrs {
            a.make_room(&mut room.attrs);
        }
        if let Some(p) = &mut self.payloads {
            p.make_room(&mut room.payloads);
        }
    }

    /// Writes row `row` of `batch` into `slot`, replacing what the slot held. A row without
    /// attributes or payload gets none (an upsert replaces the whole record).
    pub(crate) fn set(&mut self, slot: u32, batch: &MetaBatch, row: usize) {
        if let Some(store) = &mut self.attrs {
            let empty = Record::default();
            let rec = batch
                .records
                .as_ref()
                .and_then(|r| r.get(row))
                .unwrap_or(&empty);
            store.set(slot, rec);
        }
        if let Some(store) = &mut self.payloads {
            match batch
                .payloads
                .as_ref()
                .and_then(|p| p.get(row))
                .and_then(Option::as_ref)
            {
                // Validated by `prepare`, so this cannot fail; stay consistent if it did.
                Some(bytes) => {
                    if store.set(slot, bytes).is_err() {
                        store.clear(slot);
                    }
                }
                None => store.clear(slot),
            }
        }
    }

    /// Forgets what `slot` held.
    pub(crate) fn clear(&mut self, slot: u32) {
        if let Some(a) = &mut self.attrs {
            a.clear(slot);
        }
        if let Some(p) = &mut self.payloads {
            p.clear(slot);
        }
    }

    /// Moves `from`'s metadata to `to` (a flat index filling a removed row's hole).
    pub(crate) fn move_slot(&mut self, from: u32, to: u32) {
        if let Some(a) = &mut self.attrs {
            match a.get(from) {
                Some(rec) => a.set(to, &rec),
                None => a.clear(to),
            }
            a.clear(from);
        }
        if let Some(p) = &mut self.payloads {
            match p.get(from).map(<[u8]>::to_vec) {
                Some(bytes) => {
                    if p.set(to, &bytes).is_err() {
                        p.clear(to);
                    }
                }
                None => p.clear(to),
            }
            p.clear(from);
        }
    }

    /// Compiles a filter (the JSON form the TypeScript layer produces) against the schema.
    pub fn filter(&self, json: &str) -> Result<Filter> {
        let Some(store) = &self.attrs else {
            return Err(err!(
                InvalidFilter,
                "this index declares no attributes, so it cannot filter (set `attributes` in its options)"
            ));
        };
        Filter::parse(json, store.schema()).map_err(|e| filter_error(e, "filter "))
    }

    /// The slots that match `filter`.
    pub fn matching(&self, filter: &Filter) -> RoaringBitmap {
        self.attrs
            .as_ref()
            .map_or_else(RoaringBitmap::new, |a| filter.evaluate(a))
    }

    /// A slot's attributes as a JSON object.
    pub fn attributes_json(&self, slot: u32) -> Option<String> {
        self.attrs.as_ref()?.get_json(slot)
    }

    /// A slot's payload (JSON text).
    pub fn payload(&self, slot: u32) -> Option<&str> {
        std::str::from_utf8(self.payloads.as_ref()?.get(slot)?).ok()
    }

    /// Whether payloads are kept.
    pub fn has_payloads(&self) -> bool {
        self.payloads.is_some()
    }

    /// Heap bytes (attributes, payloads).
    pub fn memory_usage(&self) -> (usize, usize) {
        (
            self.attrs.as_ref().map_or(0, AttributeStore::memory_usage),
            self.payloads.as_ref().map_or(0, PayloadStore::memory_usage),
        )
    }

    /// The persisted forms: (schema JSON, attribute records) and the payload store.
    pub(crate) fn encode(&self) -> (Option<AttributeSections>, Option<Vec<u8>>) {
        (
            self.attrs
                .as_ref()
                .map(|a| (a.schema().to_json().into_bytes(), a.encode())),
            self.payloads.as_ref().map(PayloadStore::encode),
        )
    }

    /// Rebuilds the stores from a file's sections (untrusted: every error is
    /// `ERR_CORRUPT_FILE`). `slots` bounds every slot named (`u32::MAX` or more: no bound, for
    /// stores keyed by user keys); `live` must be exactly the set of slots with attributes,
    /// since every live row has a record.
    pub(crate) fn decode(
        schema: Option<&[u8]>,
        attrs: Option<&[u8]>,
        payloads: Option<Box<dyn ByteSource>>,
        slots: usize,
        live: impl Fn(u32) -> bool,
        live_count: usize,
    ) -> Result<Self> {
        let max = u32::try_from(slots).unwrap_or(u32::MAX);
        let attrs = match (schema, attrs) {
            (None, None) => None,
            (Some(s), Some(a)) => {
                let text = std::str::from_utf8(s)
                    .map_err(|_| err!(CorruptFile, "the attribute schema is not UTF-8"))?;
                let schema = Schema::from_json(text)
                    .map_err(|e| err!(CorruptFile, "the attribute schema is invalid: {e}"))?;
                let store = AttributeStore::decode(a, &schema, max)
                    .map_err(|e| filter_error(e, "attributes: "))?;
                if store.len() != live_count || store.live().iter().any(|s| !live(s)) {
                    return Err(err!(
                        CorruptFile,
                        "the attribute records disagree with the live rows"
                    ));
                }
                Some(store)
            }
            _ => {
                return Err(err!(
                    CorruptFile,
                    "the attribute schema and records must be stored together"
                ))
            }
        };
        let payloads = match payloads {
            None => None,
            Some(src) => {
                let store = PayloadStore::from_source(src, max)
                    .map_err(|e| filter_error(e, "payloads: "))?;
                Some(store)
            }
        };
        if let Some(p) = &payloads {
            // A payload of a row that is not live would come back with the next key there.
            if p.slots().into_iter().any(|s| !live(s)) {
                return Err(err!(CorruptFile, "a payload belongs to no live row"));
            }
        }
        Ok(Meta { attrs, payloads })
    }
}
