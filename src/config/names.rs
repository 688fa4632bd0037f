//! What expressions can read: the `parse ` prefix, the identifiers an
//! experiment's expressions mention, and key paths for messages.

use rustc_hash::FxHashSet as HashSet;
use std::sync::Arc;

use yaml_serde::{Mapping, Value};

pub(crate) const PARSE_PREFIX: &str = "parse ";

/// The identifiers that expressions of one experiment may read.
pub(crate) struct Names {
    pub(crate) own: HashSet<String>,
    pub(crate) defaults: Arc<HashSet<String>>,
}

impl Names {
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.own.contains(name) || self.defaults.contains(name)
    }
}

/// The identifiers in the text of an expression (an over-approximation:
/// property names and words in strings count too).
pub(crate) fn words(src: &str) -> HashSet<String> {
    let mut out = HashSet::default();
    let mut word = String::new();
    for c in src.chars().chain([' ']) {
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
        } else if !word.is_empty() {
            if !word.starts_with(|c: char| c.is_ascii_digit()) {
                out.insert(std::mem::take(&mut word));
            }
            word.clear();
        }
    }
    out
}

/// Every identifier that occurs in a `parse` expression of `map` (an
/// over-approximation: property names and words in strings count too).
pub(crate) fn referenced_names(map: &Mapping) -> HashSet<String> {
    fn walk(value: &Value, out: &mut HashSet<String>) {
        match value {
            Value::String(s) if s.starts_with(PARSE_PREFIX) => {
                out.extend(words(&s[PARSE_PREFIX.len()..]));
            }
            Value::Sequence(items) => items.iter().for_each(|v| walk(v, out)),
            Value::Mapping(map) => map.values().for_each(|v| walk(v, out)),
            Value::Tagged(tagged) => walk(&tagged.value, out),
            _ => {}
        }
    }
    let mut out = HashSet::default();
    map.values().for_each(|v| walk(v, &mut out));
    out
}

pub(crate) fn has_expressions_in(map: &Mapping) -> bool {
    map.values().any(has_expressions)
}

/// Whether any string in `value` is a `parse` expression.
pub(crate) fn has_expressions(value: &Value) -> bool {
    match value {
        Value::String(s) => s.starts_with(PARSE_PREFIX),
        Value::Sequence(items) => items.iter().any(has_expressions),
        Value::Mapping(map) => map.values().any(has_expressions),
        Value::Tagged(tagged) => has_expressions(&tagged.value),
        _ => false,
    }
}

/// `a.b[2].c`
pub(crate) fn join_path(path: &[String]) -> String {
    let mut out = String::new();
    for part in path {
        if !part.starts_with('[') && !out.is_empty() {
            out.push('.');
        }
        out.push_str(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_paths_and_expressions() {
        let map: Mapping =
            yaml_serde::from_str("a: parse b + c_2 * 3\nn: {x: [1, 'parse E[-1].y']}\nz: 'b'\n")
                .unwrap();
        let names = referenced_names(&map);
        for name in ["b", "c_2", "E", "y"] {
            assert!(names.contains(name), "{name}");
        }
        assert!(!names.contains("3") && !names.contains("z"));
        assert!(has_expressions_in(&map));
        assert!(!has_expressions(&map["z"]));
        let path = [
            "n".to_owned(),
            "x".to_owned(),
            "[1]".to_owned(),
            "k".to_owned(),
        ];
        assert_eq!(join_path(&path), "n.x[1].k");
    }
}
