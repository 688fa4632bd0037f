//! Deep merge of an experiment over the default config.

use yaml_serde::{Mapping, Value};

/// The experiment's keys first, in written order, then the default keys it
/// does not set. Nested mappings merge deeply and the experiment wins at
/// every leaf; lists (and any other value) are replaced, not merged.
pub fn merge_over(experiment: &Mapping, defaults: &Mapping) -> Mapping {
    let mut out = Mapping::with_capacity(experiment.len() + defaults.len());
    for (key, value) in experiment {
        let merged = match (value, defaults.get(key)) {
            (Value::Mapping(own), Some(Value::Mapping(default))) => {
                Value::Mapping(merge_over(own, default))
            }
            _ => value.clone(),
        };
        out.insert(key.clone(), merged);
    }
    for (key, value) in defaults {
        if !experiment.contains_key(key) {
            out.insert(key.clone(), value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::merge_over;
    use yaml_serde::{Mapping, Value};

    fn map(text: &str) -> Mapping {
        yaml_serde::from_str(text).unwrap()
    }

    #[test]
    fn experiment_keys_first_then_defaults_deeply() {
        let defaults = map("a: 1\nnested: {x: 1, y: 2}\nlist: [1, 2]\nz: 0\n");
        let exp = map("z: 9\nnested: {y: 3, w: 4}\nlist: [5]\n");
        let merged = merge_over(&exp, &defaults);
        let keys: Vec<&str> = merged.keys().map(|k| k.as_str().unwrap()).collect();
        assert_eq!(keys, ["z", "nested", "list", "a"]);
        let nested = merged["nested"].as_mapping().unwrap();
        let nested_keys: Vec<&str> = nested.keys().map(|k| k.as_str().unwrap()).collect();
        assert_eq!(nested_keys, ["y", "w", "x"]);
        assert_eq!(nested["y"], Value::from(3));
        assert_eq!(merged["list"], map("l: [5]")["l"], "lists are replaced");
    }
}
