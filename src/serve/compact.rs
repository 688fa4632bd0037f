//! A compact copy of each run's top-level values, made once when the run
//! is read: `(key id, cell)` pairs in one small array, so that grouping
//! 100,000 runs reads a few contiguous bytes per run instead of looking
//! keys up in 100,000 parsed mappings scattered over hundreds of megabytes
//! (each lookup there is several cache misses).
//!
//! A cell is exact for numbers (the same distinctions `filter`'s grouping
//! makes: `1` and `1.0` differ), booleans, null and missing values; a
//! string, list or mapping is held by a 64-bit hash of its value (two
//! different values sharing a hash among a few thousand groups: about one
//! chance in 10^12).

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{OnceLock, PoisonError, RwLock};

use yaml_serde::{Mapping, Value};

/// A top-level key, interned.
pub(crate) type KeyId = u32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Cell {
    tag: u8,
    bits: u64,
}

const MISSING: u8 = 0;
const NULL: u8 = 1;
const BOOL: u8 = 2;
const POSITIVE: u8 = 3;
const NEGATIVE: u8 = 4;
const FLOAT: u8 = 5;
const HASHED: u8 = 6;

impl Cell {
    pub(crate) const MISSING: Cell = Cell {
        tag: MISSING,
        bits: 0,
    };

    pub(crate) fn of(value: Option<&Value>) -> Self {
        let (tag, bits) = match value {
            None => (MISSING, 0),
            Some(Value::Null) => (NULL, 0),
            Some(Value::Bool(b)) => (BOOL, u64::from(*b)),
            Some(Value::Number(n)) => {
                if let Some(u) = n.as_u64() {
                    (POSITIVE, u)
                } else if let Some(i) = n.as_i64() {
                    (NEGATIVE, u64::from_ne_bytes(i.to_ne_bytes()))
                } else {
                    (FLOAT, n.as_f64().unwrap_or(f64::NAN).to_bits())
                }
            }
            Some(other) => {
                let mut hasher = DefaultHasher::new();
                other.hash(&mut hasher);
                (HASHED, hasher.finish())
            }
        };
        Self { tag, bits }
    }

    /// The number, as `filter`'s aggregation reads it.
    pub(crate) fn number(self) -> Option<f64> {
        match self.tag {
            POSITIVE => Some(self.bits as f64),
            NEGATIVE => Some(i64::from_ne_bytes(self.bits.to_ne_bytes()) as f64),
            FLOAT => Some(f64::from_bits(self.bits)),
            _ => None,
        }
    }
}

fn keys() -> &'static RwLock<HashMap<Box<str>, KeyId>> {
    static KEYS: OnceLock<RwLock<HashMap<Box<str>, KeyId>>> = OnceLock::new();
    KEYS.get_or_init(RwLock::default)
}

/// The id of a top-level key (given one if it has none yet).
pub(crate) fn intern(key: &str) -> KeyId {
    if let Some(id) = keys()
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(key)
    {
        return *id;
    }
    let mut keys = keys().write().unwrap_or_else(PoisonError::into_inner);
    let next = KeyId::try_from(keys.len()).unwrap_or(KeyId::MAX);
    *keys.entry(key.into()).or_insert(next)
}

/// A document's top-level values.
pub(crate) fn cells(doc: &Mapping) -> Box<[(KeyId, Cell)]> {
    doc.iter()
        .filter_map(|(k, v)| match k {
            Value::String(k) => Some((intern(k), Cell::of(Some(v)))),
            _ => None,
        })
        .collect()
}

/// The cell of `key` among `cells` ([`Cell::MISSING`] when absent).
pub(crate) fn get(cells: &[(KeyId, Cell)], key: KeyId) -> Cell {
    cells
        .iter()
        .find(|(k, _)| *k == key)
        .map_or(Cell::MISSING, |(_, c)| *c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_keep_filters_distinctions() {
        let doc: Mapping =
            yaml_serde::from_str("{a: 1, b: 1.0, c: -2, d: x, e: ~, f: [1]}").unwrap();
        let cells = cells(&doc);
        let cell = |k: &str| get(&cells, intern(k));
        assert_ne!(cell("a"), cell("b"));
        assert_eq!(cell("a").number(), Some(1.0));
        assert_eq!(cell("c").number(), Some(-2.0));
        assert_eq!(cell("d").number(), None);
        assert_ne!(cell("e"), Cell::MISSING);
        assert_eq!(cell("nope"), Cell::MISSING);
        assert_eq!(cell("d"), Cell::of(Some(&Value::String("x".into()))));
    }
}
