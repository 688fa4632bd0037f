//! From Rhai values back to YAML: the results of `parse` expressions and
//! the values `filter` prints. Separate from `convert.rs` (YAML into Rhai)
//! because it must know the history's `Experiment` type, which itself
//! converts YAML into Rhai: this way no two modules import each other.

use rhai::{Array, Dynamic, Map};
use yaml_serde::{Mapping, Number, Value};

use super::history::Experiment;
use super::limits::{too_deep_message, MAX_DEPTH};

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
    if let Some(experiment) = value.read_lock::<Experiment>() {
        return Ok(Value::Mapping(experiment.to_mapping()));
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
    use super::dynamic_to_yaml;
    use crate::expr::convert::yaml_to_dynamic;
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
