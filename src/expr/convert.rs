//! YAML values ↔ Rhai values, without a serde round trip.
//!
//! Expansion converts every key once, so this is on the hot path; a direct
//! match is several times cheaper than `rhai::serde::to_dynamic`.

use rhai::{Array, Dynamic, ImmutableString, Map, FLOAT, INT};
use yaml_serde::{Mapping, Number, Value};

use super::limits::{too_deep_message, MAX_DEPTH};
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
            Scalar::Float(f) => Dynamic::from_float(f as FLOAT),
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
        let expected = slow.map(|m| dynamic_to_yaml(&Dynamic::from_map(mapping_to_map(&m))));
        let got = dynamic_to_yaml(&Dynamic::from_map(map.clone()));
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

/// Convert a Rhai result back into YAML; `Err` names the unsupported type,
/// or the nesting limit: values nested deeper than [`MAX_DEPTH`] are refused
/// (converting them would overflow the stack).
pub fn dynamic_to_yaml(value: &Dynamic) -> Result<Value, String> {
    to_yaml(value, 0)
}

fn to_yaml(value: &Dynamic, depth: usize) -> Result<Value, String> {
    if value.is_shared() {
        return to_yaml(&value.clone().flatten(), depth);
    }
    if depth >= MAX_DEPTH && (value.is_array() || value.is_map()) {
        return Err(too_deep_message());
    }
    if value.is_unit() {
        return Ok(Value::Null);
    }
    if let Ok(b) = value.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Ok(i) = value.as_int() {
        return Ok(Value::Number(Number::from(i)));
    }
    if let Ok(f) = value.as_float() {
        return Ok(Value::Number(Number::from(f)));
    }
    if let Ok(c) = value.as_char() {
        return Ok(Value::String(c.to_string()));
    }
    if value.is_string() {
        return Ok(Value::String(
            value.clone().into_string().unwrap_or_default(),
        ));
    }
    if value.is_array() {
        let array = value.read_lock::<Array>().ok_or("array is locked")?;
        return array
            .iter()
            .map(|v| to_yaml(v, depth + 1))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Sequence);
    }
    if let Some(experiment) = value.read_lock::<super::history::Experiment>() {
        return Ok(Value::Mapping(experiment.yaml().clone()));
    }
    if value.is_map() {
        let map = value.read_lock::<Map>().ok_or("map is locked")?;
        let mut out = Mapping::with_capacity(map.len());
        for (k, v) in map.iter() {
            out.insert(Value::String(k.to_string()), to_yaml(v, depth + 1)?);
        }
        return Ok(Value::Mapping(out));
    }
    Err(format!(
        "a value of type `{}` cannot be stored in an experiment",
        value.type_name()
    ))
}

#[cfg(test)]
mod tests {
    use super::{dynamic_to_yaml, yaml_to_dynamic};
    use yaml_serde::Value;

    #[test]
    fn round_trip_keeps_types() {
        let text =
            "a: 1\nb: 2.5\nc: text\nd: [1, x, true]\ne: {f: null}\ng: 12345678901234567890\n";
        let value: Value = yaml_serde::from_str(text).unwrap();
        let back = dynamic_to_yaml(&yaml_to_dynamic(&value)).unwrap();
        let Value::Mapping(m) = back else { panic!() };
        assert_eq!(m["a"], Value::from(1));
        assert_eq!(m["b"], Value::from(2.5));
        assert_eq!(m["c"], Value::from("text"));
        assert_eq!(m["d"][2], Value::Bool(true));
        assert_eq!(m["e"]["f"], Value::Null);
        assert!(m["g"].is_f64(), "u64 beyond i64 becomes a float");
    }

    #[test]
    fn nesting_is_converted_only_within_the_limit() {
        let nest = |levels: usize| {
            let mut value = rhai::Dynamic::from_array(Vec::new());
            for _ in 1..levels {
                value = rhai::Dynamic::from_array(vec![value]);
            }
            value
        };
        assert!(dynamic_to_yaml(&nest(super::MAX_DEPTH)).is_ok());
        let err = dynamic_to_yaml(&nest(super::MAX_DEPTH + 1)).unwrap_err();
        assert!(err.contains("nested more than 100 levels"), "{err}");
        assert!(dynamic_to_yaml(&nest(1_000)).is_err());
    }
}
