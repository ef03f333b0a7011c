//! The attribute schema: field names and their types.

use crate::error::{invalid_arg, Result};

/// The most fields a schema may declare.
pub const MAX_FIELDS: usize = 64;
/// The longest field name, in UTF-8 bytes.
pub const MAX_FIELD_NAME_BYTES: usize = 128;

/// The type of an attribute field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// One string (`"keyword"`), dictionary-encoded.
    Keyword,
    /// A set of strings (`"keyword[]"`); duplicates are merged.
    KeywordArray,
    /// A safe integer, |n| <= 2^53 - 1 (`"int"`); datetimes are int milliseconds.
    Int,
    /// A finite `f64` (`"float"`).
    Float,
    /// A boolean (`"bool"`).
    Bool,
}

impl FieldType {
    /// Parses the type string of a schema: `keyword`, `keyword[]`, `int`, `float` or `bool`.
    pub fn parse(s: &str) -> Option<FieldType> {
        Some(match s {
            "keyword" => FieldType::Keyword,
            "keyword[]" => FieldType::KeywordArray,
            "int" => FieldType::Int,
            "float" => FieldType::Float,
            "bool" => FieldType::Bool,
            _ => return None,
        })
    }

    /// The type string this type is parsed from.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Keyword => "keyword",
            FieldType::KeywordArray => "keyword[]",
            FieldType::Int => "int",
            FieldType::Float => "float",
            FieldType::Bool => "bool",
        }
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            FieldType::Keyword => 0,
            FieldType::KeywordArray => 1,
            FieldType::Int => 2,
            FieldType::Float => 3,
            FieldType::Bool => 4,
        }
    }
}

/// One declared field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The field's name.
    pub name: String,
    /// The field's type.
    pub ty: FieldType,
}

/// An attribute schema. Fields are kept sorted by name; a field's index in
/// [`Schema::fields`] is its id in records and in persisted bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schema {
    fields: Vec<Field>,
}

impl Schema {
    /// Builds a schema from `(name, type)` pairs. Errors on an empty or over-long name,
    /// a duplicate name, or more than [`MAX_FIELDS`] fields.
    pub fn new(fields: impl IntoIterator<Item = (String, FieldType)>) -> Result<Schema> {
        let mut out: Vec<Field> = Vec::new();
        for (name, ty) in fields {
            if name.is_empty() {
                return Err(invalid_arg("schema: empty field name"));
            }
            if name.len() > MAX_FIELD_NAME_BYTES {
                return Err(invalid_arg(format!(
                    "schema: field name of {} bytes exceeds the limit of {MAX_FIELD_NAME_BYTES}",
                    name.len()
                )));
            }
            if out.len() >= MAX_FIELDS {
                return Err(invalid_arg(format!(
                    "schema: more than {MAX_FIELDS} fields"
                )));
            }
            out.push(Field { name, ty });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(w) = out.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(invalid_arg(format!(
                "schema: duplicate field \"{}\"",
                w[0].name
            )));
        }
        Ok(Schema { fields: out })
    }

    /// Parses a JSON object mapping field names to type strings, e.g.
    /// `{"lang":"keyword","tags":"keyword[]","year":"int"}`.
    pub fn from_json(json: &str) -> Result<Schema> {
        let v: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| invalid_arg(format!("schema: not valid JSON: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| invalid_arg("schema: expected a JSON object"))?;
        if obj.len() > MAX_FIELDS {
            return Err(invalid_arg(format!(
                "schema: {} fields exceed the limit of {MAX_FIELDS}",
                obj.len()
            )));
        }
        let mut pairs = Vec::with_capacity(obj.len());
        for (name, t) in obj {
            let s = t.as_str().ok_or_else(|| {
                invalid_arg(format!("schema: field \"{name}\": expected a type string"))
            })?;
            let ty = FieldType::parse(s).ok_or_else(|| {
                invalid_arg(format!(
                    "schema: field \"{name}\": unknown type \"{s}\" (expected keyword, keyword[], int, float or bool)"
                ))
            })?;
            pairs.push((name.clone(), ty));
        }
        Schema::new(pairs)
    }

    /// The schema as a JSON object, fields in name order; [`Schema::from_json`] reads it back.
    pub fn to_json(&self) -> String {
        let mut m = serde_json::Map::new();
        for f in &self.fields {
            m.insert(f.name.clone(), serde_json::Value::from(f.ty.as_str()));
        }
        serde_json::Value::Object(m).to_string()
    }

    /// The fields, sorted by name.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether the schema declares no field.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The index and type of the field called `name`.
    pub fn field(&self, name: &str) -> Option<(usize, FieldType)> {
        self.fields
            .binary_search_by(|f| f.name.as_str().cmp(name))
            .ok()
            .and_then(|i| self.fields.get(i).map(|f| (i, f.ty)))
    }

    /// A 64-bit fingerprint of the names and types, stored with persisted attributes.
    pub fn fingerprint(&self) -> u64 {
        let mut bytes = Vec::new();
        for f in &self.fields {
            bytes.extend_from_slice(&(f.name.len() as u32).to_le_bytes());
            bytes.extend_from_slice(f.name.as_bytes());
            bytes.push(f.ty.code());
        }
        crate::codec::checksum(&bytes)
    }
}
