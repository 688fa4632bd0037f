//! YAML values ↔ Rhai values, without a serde round trip.
//!
//! Expansion converts every key once, so this is on the hot path; a direct
//! match is several times cheaper than `rhai::serde::to_dynamic`.

use rhai::{Array, Dynamic, ImmutableString, Map, FLOAT, INT};
use yaml_serde::{Mapping, Number, Value};

use crate::yaml::fast::{self as yaml_fast, Builder, Scalar};

/// Builds Rhai values straight from YAML text (`yaml_fast`), skipping the
/// YAML value tree: `filter` converts every document it reads.
struct DynamicBuilder<'k> {
    only: Option<&'k [String]>,
}

impl Builder for DynamicBuilder<'_> {
    fn keep(&self, key: &str) -> bool {
        self.only.is_none_or(|keys| keys.iter().any(|k| k == key))
    }
    type Value = Dynamic;
    type Map = Map;
    fn new_map(&mut self) -> Map {
        Map::new()
    }
    fn insert(&mut self, map: &mut Map, key: &str, value: Dynamic) -> bool {
        map.insert(key.into(), value).is_none()
    }
    fn map(&mut self, map: Map) -> Dynamic {
        Dynamic::from_map(map)
    }
    fn seq(&mut self, items: Vec<Dynamic>) -> Dynamic {
        Dynamic::from_array(items)
    }
    fn scalar(&mut self, scalar: Scalar<'_>) -> Dynamic {
        match scalar {
            Scalar::Null => Dynamic::UNIT,
            Scalar::Bool(b) => Dynamic::from_bool(b),
            Scalar::Int(i) => Dynamic::from_int(i as INT),
            Scalar::Float(f, _) => Dynamic::from_float(f as FLOAT),
            Scalar::Str(s) => Dynamic::from(ImmutableString::from(s)),
        }
    }
}

/// A mapping document in the plain subset of YAML (see `yaml_fast`) as a
/// Rhai object map; `None` outside the subset.
pub(crate) fn plain_yaml_to_map(text: &str, only: Option<&[String]>) -> Option<Map> {
    let map = yaml_fast::parse_with(text, &mut DynamicBuilder { only })?;
    #[cfg(debug_assertions)]
    {
        let mut slow: Option<Mapping> = yaml_serde::from_str(text).ok();
        if let (Some(slow), Some(only)) = (&mut slow, only) {
            slow.retain(|k, _| k.as_str().is_some_and(|k| only.iter().any(|o| o == k)));
        }
        // Rhai values have no `==`: their debug forms (ordered maps, typed
        // numbers) are compared instead.
        let expected = slow.map(|m| format!("{:?}", mapping_to_map(&m)));
        let got = format!("{map:?}");
        assert_eq!(
            expected,
            Some(got),
            "yaml_fast disagrees with yaml_serde on:\n{text}"
        );
    }
    Some(map)
}

/// Convert a YAML value into a Rhai value (mappings become object maps).
pub fn yaml_to_dynamic(value: &Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => number_to_dynamic(n),
        Value::String(s) => Dynamic::from(ImmutableString::from(s.as_str())),
        Value::Sequence(items) => {
            Dynamic::from_array(items.iter().map(yaml_to_dynamic).collect::<Array>())
        }
        Value::Mapping(map) => Dynamic::from_map(mapping_to_map(map)),
        Value::Tagged(tagged) => yaml_to_dynamic(&tagged.value),
    }
}

fn number_to_dynamic(n: &Number) -> Dynamic {
    if let Some(i) = n.as_i64() {
        Dynamic::from_int(i as INT)
    } else {
        // u64 beyond i64 and every float.
        Dynamic::from_float(n.as_f64().unwrap_or(f64::NAN) as FLOAT)
    }
}

/// Convert a YAML mapping into a Rhai object map.
pub(crate) fn mapping_to_map(map: &Mapping) -> Map {
    let mut out = Map::new();
    for (k, v) in map {
        out.insert(key_name(k).into(), yaml_to_dynamic(v));
    }
    out
}

/// The text of a mapping key; non-string keys are written as YAML would.
pub fn key_name(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => "null".to_owned(),
        other => yaml_serde::to_string(other)
            .map(|s| s.trim_end().to_owned())
            .unwrap_or_default(),
    }
}
