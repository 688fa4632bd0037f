//! A finished experiment as compact bytes: what the history `E` keeps.
//!
//! A YAML value tree costs about 26 times the text it prints (hash tables,
//! enum slots, one allocation per string); a long history of them is most of
//! the memory of an expansion. Here an experiment is one byte buffer, its
//! mapping keys interned in a [`Keys`] table shared by the whole history,
//! and it is decoded (into Rhai values or back into YAML) only when a script
//! reads it. A top-level key is found by one scan that skips other values by
//! their length prefix, so `E[-1].x` costs the same for any history length.
//!
//! Format: a value is one tag byte, then
//! - null, false, true: nothing;
//! - int: zigzag varint; u64 above `i64::MAX`, float: 8 bytes little-endian;
//! - string: varint length, UTF-8 bytes;
//! - sequence, mapping: varint body length, varint count, the items (a
//!   mapping entry is a key, then a value);
//! - tagged: the tag as a string, then the value.
//!
//! A mapping key is a varint: `2 × id` for an interned string, or `1`
//! followed by a value for any other key (numbers, booleans …).

use std::sync::Arc;

use rhai::{Array, Dynamic, ImmutableString, Map, FLOAT, INT};
use rustc_hash::FxHashMap as HashMap;
use yaml_serde::value::{Tag, TaggedValue};
use yaml_serde::{Mapping, Number, Value};

const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const INT_TAG: u8 = 3;
const U64: u8 = 4;
const FLOAT_TAG: u8 = 5;
const STRING: u8 = 6;
const SEQ: u8 = 7;
const MAP: u8 = 8;
const TAGGED: u8 = 9;

/// Interned mapping keys, shared by every entry of a history. It is
/// append-only and changed only between evaluations, when no script holds
/// it (copy-on-write otherwise), so reading it takes no lock.
#[derive(Default, Clone)]
pub(crate) struct Keys {
    names: Vec<ImmutableString>,
    ids: HashMap<ImmutableString, u32>,
}

impl Keys {
    fn id(&self, key: &str) -> Option<u32> {
        self.ids.get(key).copied()
    }

    fn intern(&mut self, key: &str) -> u32 {
        if let Some(&id) = self.ids.get(key) {
            return id;
        }
        let id = u32::try_from(self.names.len()).expect("fewer than 2^32 distinct keys");
        let name = ImmutableString::from(key);
        self.names.push(name.clone());
        self.ids.insert(name, id);
        id
    }
}

/// Encode `map`, interning its string keys in `keys`.
pub(crate) fn encode(map: &Mapping, keys: &mut Keys) -> Arc<[u8]> {
    let mut buf = Vec::with_capacity(256);
    Encoder {
        keys,
        buf: &mut buf,
    }
    .mapping(map);
    buf.into()
}

/// One encoded experiment with the keys to read it. Cloning shares both.
#[derive(Clone)]
pub(crate) struct Compact {
    bytes: Arc<[u8]>,
    keys: Arc<Keys>,
}

impl Compact {
    pub(crate) fn new(bytes: Arc<[u8]>, keys: Arc<Keys>) -> Self {
        Self { bytes, keys }
    }

    /// The top-level entries: (key bytes, value bytes), in order.
    fn entries(&self) -> Entries<'_> {
        let mut r = Reader::new(&self.bytes);
        let _ = r.byte();
        let _ = r.varint();
        let count = r.varint();
        Entries { r, left: count }
    }

    /// Number of top-level keys.
    pub(crate) fn len(&self) -> usize {
        self.entries().left as usize
    }

    /// The value of the top-level string key `key`, as a Rhai value.
    pub(crate) fn get(&self, key: &str) -> Option<Dynamic> {
        let value = self.find(key)?;
        Some(Reader::new(value).dynamic(&self.keys))
    }

    pub(crate) fn contains(&self, key: &str) -> bool {
        self.find(key).is_some()
    }

    fn find(&self, key: &str) -> Option<&[u8]> {
        let id = u64::from(self.keys.id(key)?) * 2;
        self.entries()
            .find(|(k, _)| Reader::new(k).varint() == id && k.len() == varint_len(id))
            .map(|(_, v)| v)
    }

    /// The names of the top-level keys (non-string keys written as YAML).
    pub(crate) fn key_names(&self) -> Vec<String> {
        self.entries()
            .map(|(k, _)| super::key_name(&Reader::new(k).key(&self.keys)))
            .collect()
    }

    /// The whole experiment as a Rhai object map.
    pub(crate) fn to_map(&self) -> Map {
        Reader::new(&self.bytes)
            .dynamic(&self.keys)
            .try_cast::<Map>()
            .unwrap_or_default()
    }

    /// The whole experiment as YAML.
    pub(crate) fn to_mapping(&self) -> Mapping {
        match Reader::new(&self.bytes).value(&self.keys) {
            Value::Mapping(map) => map,
            _ => Mapping::new(),
        }
    }
}

struct Entries<'a> {
    r: Reader<'a>,
    left: u64,
}

impl<'a> Iterator for Entries<'a> {
    type Item = (&'a [u8], &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let key = self.r.skip_key();
        let value = self.r.skip_value();
        Some((key, value))
    }
}

struct Encoder<'a> {
    keys: &'a mut Keys,
    buf: &'a mut Vec<u8>,
}

impl Encoder<'_> {
    fn varint(&mut self, n: u64) {
        put_varint(self.buf, n);
    }

    fn string(&mut self, s: &str) {
        self.varint(s.len() as u64);
        self.buf.extend_from_slice(s.as_bytes());
    }

    /// A container: tag, body length, count, body (written by `body`).
    fn container(&mut self, tag: u8, count: usize, body: impl FnOnce(&mut Self)) {
        self.buf.push(tag);
        let start = self.buf.len();
        self.varint(count as u64);
        body(self);
        let mut len = (self.buf.len() - start) as u64;
        let mut prefix = [0u8; 10];
        let mut n = 0;
        while len >= 0x80 {
            prefix[n] = (len as u8) | 0x80;
            len >>= 7;
            n += 1;
        }
        prefix[n] = len as u8;
        self.buf.splice(start..start, prefix[..=n].iter().copied());
    }

    fn mapping(&mut self, map: &Mapping) {
        self.container(MAP, map.len(), |e| {
            for (k, v) in map {
                match k {
                    Value::String(s) => {
                        let id = e.keys.intern(s);
                        e.varint(u64::from(id) * 2);
                    }
                    other => {
                        e.varint(1);
                        e.value(other);
                    }
                }
                e.value(v);
            }
        });
    }

    fn value(&mut self, value: &Value) {
        match value {
            Value::Null => self.buf.push(NULL),
            Value::Bool(b) => self.buf.push(if *b { TRUE } else { FALSE }),
            Value::Number(n) => self.number(n),
            Value::String(s) => {
                self.buf.push(STRING);
                self.string(s);
            }
            Value::Sequence(items) => self.container(SEQ, items.len(), |e| {
                for item in items {
                    e.value(item);
                }
            }),
            Value::Mapping(map) => self.mapping(map),
            Value::Tagged(tagged) => {
                self.buf.push(TAGGED);
                self.string(&tagged.tag.to_string());
                self.value(&tagged.value);
            }
        }
    }

    fn number(&mut self, n: &Number) {
        if let Some(i) = n.as_i64() {
            self.buf.push(INT_TAG);
            self.varint(((i << 1) ^ (i >> 63)) as u64);
        } else if let Some(u) = n.as_u64() {
            self.buf.push(U64);
            self.buf.extend_from_slice(&u.to_le_bytes());
        } else {
            self.buf.push(FLOAT_TAG);
            let f = n.as_f64().unwrap_or(f64::NAN);
            self.buf.extend_from_slice(&f.to_le_bytes());
        }
    }
}

fn put_varint(buf: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        buf.push((n as u8) | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
}

fn varint_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    fn byte(&mut self) -> u8 {
        let b = self.bytes[self.at];
        self.at += 1;
        b
    }

    fn varint(&mut self) -> u64 {
        let mut n = 0u64;
        let mut shift = 0;
        loop {
            let b = self.byte();
            n |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return n;
            }
            shift += 7;
        }
    }

    fn take(&mut self, len: usize) -> &'a [u8] {
        let out = &self.bytes[self.at..self.at + len];
        self.at += len;
        out
    }

    fn str(&mut self) -> &'a str {
        let len = self.varint() as usize;
        // Written from a `&str` by `Encoder::string`.
        std::str::from_utf8(self.take(len)).unwrap_or_default()
    }

    fn int(&mut self) -> i64 {
        let z = self.varint();
        ((z >> 1) as i64) ^ -((z & 1) as i64)
    }

    fn eight(&mut self) -> [u8; 8] {
        self.take(8).try_into().unwrap_or_default()
    }

    /// Skip one value; returns its bytes.
    fn skip_value(&mut self) -> &'a [u8] {
        let start = self.at;
        match self.byte() {
            INT_TAG => {
                self.varint();
            }
            U64 | FLOAT_TAG => self.at += 8,
            STRING => {
                self.str();
            }
            SEQ | MAP => {
                let len = self.varint() as usize;
                self.at += len;
            }
            TAGGED => {
                self.str();
                self.skip_value();
            }
            _ => {}
        }
        &self.bytes[start..self.at]
    }

    fn skip_key(&mut self) -> &'a [u8] {
        let start = self.at;
        if self.varint() == 1 {
            self.skip_value();
        }
        &self.bytes[start..self.at]
    }

    fn key(&mut self, table: &Keys) -> Value {
        match self.varint() {
            1 => self.value(table),
            id => Value::String(table.names[(id / 2) as usize].to_string()),
        }
    }

    fn count(&mut self) -> usize {
        let _ = self.varint();
        self.varint() as usize
    }

    fn value(&mut self, table: &Keys) -> Value {
        match self.byte() {
            FALSE => Value::Bool(false),
            TRUE => Value::Bool(true),
            INT_TAG => Value::Number(Number::from(self.int())),
            U64 => Value::Number(Number::from(u64::from_le_bytes(self.eight()))),
            FLOAT_TAG => Value::Number(Number::from(f64::from_le_bytes(self.eight()))),
            STRING => Value::String(self.str().to_owned()),
            SEQ => {
                let count = self.count();
                Value::Sequence((0..count).map(|_| self.value(table)).collect())
            }
            MAP => {
                let count = self.count();
                let mut map = Mapping::with_capacity(count);
                for _ in 0..count {
                    let key = self.key(table);
                    let value = self.value(table);
                    map.insert(key, value);
                }
                Value::Mapping(map)
            }
            TAGGED => {
                let tag = Tag::new(self.str());
                let value = self.value(table);
                Value::Tagged(Box::new(TaggedValue { tag, value }))
            }
            _ => Value::Null,
        }
    }

    /// The value as Rhai sees it (as `convert::yaml_to_dynamic` would).
    fn dynamic(&mut self, table: &Keys) -> Dynamic {
        match self.byte() {
            FALSE => Dynamic::from_bool(false),
            TRUE => Dynamic::from_bool(true),
            INT_TAG => Dynamic::from_int(self.int() as INT),
            U64 => Dynamic::from_float(u64::from_le_bytes(self.eight()) as FLOAT),
            FLOAT_TAG => Dynamic::from_float(f64::from_le_bytes(self.eight()) as FLOAT),
            STRING => Dynamic::from(ImmutableString::from(self.str())),
            SEQ => {
                let count = self.count();
                Dynamic::from_array((0..count).map(|_| self.dynamic(table)).collect::<Array>())
            }
            MAP => {
                let count = self.count();
                let mut map = Map::new();
                for _ in 0..count {
                    let key = match self.varint() {
                        1 => super::key_name(&self.value(table)).into(),
                        id => table.names[(id / 2) as usize].as_str().into(),
                    };
                    map.insert(key, self.dynamic(table));
                }
                Dynamic::from_map(map)
            }
            TAGGED => {
                self.str();
                self.dynamic(table)
            }
            _ => Dynamic::UNIT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Mapping {
        yaml_serde::from_str(text).unwrap()
    }

    #[test]
    fn round_trips_every_kind_of_value() {
        let map = doc(
            "a: 1\nb: -7\nc: 2.5\nd: 18446744073709551615\ne: text\nf: [1, [2, x], {k: v}]\n\
             g: {h: {i: null}, j: true}\n3: numeric key\ntrue: bool key\nk: !tag value\nl: []\nm: {}\n",
        );
        let mut keys = Keys::default();
        let bytes = encode(&map, &mut keys);
        let compact = Compact::new(bytes, Arc::new(keys));
        assert_eq!(compact.to_mapping(), map);
        assert_eq!(compact.len(), map.len());
        assert_eq!(compact.get("b").unwrap().as_int().unwrap(), -7);
        assert_eq!(compact.get("e").unwrap().into_string().unwrap(), "text");
        assert!(compact.contains("g") && !compact.contains("zz") && !compact.contains("3"));
        assert_eq!(
            compact.key_names(),
            ["a", "b", "c", "d", "e", "f", "g", "3", "true", "k", "l", "m"]
        );
        let dynamic = format!("{:?}", compact.to_map());
        let expected = format!("{:?}", super::super::convert::mapping_to_map(&map));
        assert_eq!(dynamic, expected);
    }

    #[test]
    fn keys_are_shared_between_experiments() {
        let mut keys = Keys::default();
        let a = encode(&doc("learning_rate: 1\nname: a\n"), &mut keys);
        let b = encode(&doc("learning_rate: 2\nname: b\n"), &mut keys);
        assert_eq!(keys.names.len(), 2);
        assert_eq!(a.len(), b.len());
        assert!(b.len() < "learning_rate: 2\nname: b\n".len());
        let b = Compact::new(b, Arc::new(keys));
        assert_eq!(b.get("learning_rate").unwrap().as_int().unwrap(), 2);
    }
}
