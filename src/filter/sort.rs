//! Sort keys: what a `--sort` expression returned, ordered.
//!
//! Keys may be numbers, strings, booleans or lists (compared element by
//! element, like Python tuples). Across types the order is booleans,
//! numbers, strings, lists, other values; integers and floats compare by
//! value. A document whose key is missing (the expression failed, e.g. on a
//! missing key, or returned `()`) sorts **last, in both directions**: with
//! `--reverse` the real values are still on top.

use std::cmp::Ordering;

use yaml_serde::Value;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SortKey {
    Bool(bool),
    Number(f64),
    Text(String),
    List(Vec<SortKey>),
    /// A mapping, compared by its YAML text.
    Other(String),
    Missing,
}

impl SortKey {
    pub(crate) fn from_value(value: &Value) -> Self {
        match value {
            Value::Null => Self::Missing,
            Value::Bool(b) => Self::Bool(*b),
            Value::Number(n) => Self::Number(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => Self::Text(s.clone()),
            Value::Sequence(items) => Self::List(items.iter().map(Self::from_value).collect()),
            Value::Tagged(tagged) => Self::from_value(&tagged.value),
            Value::Mapping(_) => Self::Other(yaml_serde::to_string(value).unwrap_or_default()),
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Self::Bool(_) => 0,
            Self::Number(_) => 1,
            Self::Text(_) => 2,
            Self::List(_) => 3,
            Self::Other(_) => 4,
            Self::Missing => 5,
        }
    }

    /// Ascending order; `Missing` is greatest, NaN after every number.
    pub(crate) fn cmp_asc(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Self::Bool(a), Self::Bool(b)) => a.cmp(b),
            (Self::Number(a), Self::Number(b)) => match (a.is_nan(), b.is_nan()) {
                (false, false) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
                (a, b) => a.cmp(&b),
            },
            (Self::Text(a), Self::Text(b)) | (Self::Other(a), Self::Other(b)) => a.cmp(b),
            (Self::List(a), Self::List(b)) => {
                for (x, y) in a.iter().zip(b) {
                    let o = x.cmp_asc(y);
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                a.len().cmp(&b.len())
            }
            _ => self.rank().cmp(&other.rank()),
        }
    }

    /// The order of one `--sort` key: missing keys last in both directions.
    pub(crate) fn cmp_dir(&self, other: &Self, reverse: bool) -> Ordering {
        match (self, other) {
            (Self::Missing, Self::Missing) => Ordering::Equal,
            (Self::Missing, _) => Ordering::Greater,
            (_, Self::Missing) => Ordering::Less,
            _ if reverse => other.cmp_asc(self),
            _ => self.cmp_asc(other),
        }
    }
}

/// Compare two documents' keys (one per `--sort`, in command-line order):
/// the last `--sort` is the primary key, as after stable sorts in turn.
pub(crate) fn cmp_keys(a: &[SortKey], b: &[SortKey], reverse: bool) -> Ordering {
    for (x, y) in a.iter().zip(b).rev() {
        let o = x.cmp_dir(y, reverse);
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> SortKey {
        SortKey::from_value(&yaml_serde::from_str(text).unwrap())
    }

    #[test]
    fn order_within_and_across_types() {
        let mut keys: Vec<SortKey> = [
            "b", "~", "[1, b]", "2.5", "1", "a", "[1, a]", "true", ".nan",
        ]
        .iter()
        .map(|t| key(t))
        .collect();
        keys.sort_by(SortKey::cmp_asc);
        let expected: Vec<SortKey> = [
            "true", "1", "2.5", ".nan", "a", "b", "[1, a]", "[1, b]", "~",
        ]
        .iter()
        .map(|t| key(t))
        .collect();
        assert_eq!(format!("{keys:?}"), format!("{expected:?}"));
    }

    #[test]
    fn missing_is_last_in_both_directions() {
        let (one, two, missing) = (key("1"), key("2"), SortKey::Missing);
        assert_eq!(missing.cmp_dir(&one, false), Ordering::Greater);
        assert_eq!(missing.cmp_dir(&one, true), Ordering::Greater);
        assert_eq!(two.cmp_dir(&one, true), Ordering::Less);
    }

    #[test]
    fn last_sort_is_primary() {
        let a = [key("1"), key("x")];
        let b = [key("0"), key("y")];
        assert_eq!(cmp_keys(&a, &b, false), Ordering::Less);
        let c = [key("0"), key("x")];
        assert_eq!(cmp_keys(&a, &c, false), Ordering::Greater);
    }
}
