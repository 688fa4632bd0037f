//! The distributions of a `random` block, and the generator of each point.
//!
//! Point *i* of a document's `random` block is drawn from its own `ChaCha12`
//! generator, seeded with (seed, document index, *i*): the points do not
//! depend on each other, so the same seed gives the same points and a
//! larger `n` keeps the first ones. `ChaCha12` (`rand_chacha`) is specified
//! and portable, unlike `rand`'s `StdRng`, whose algorithm may change.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use yaml_serde::Value;

use super::axis::value_text;

/// The distribution names, as written.
pub(crate) const DISTRIBUTIONS: [&str; 4] = ["uniform", "loguniform", "randint", "choice"];

/// One key's distribution.
#[derive(Debug, Clone)]
pub(crate) enum Dist {
    /// A float in `[low, high)`.
    Uniform(f64, f64),
    /// A float whose logarithm is uniform in `[ln low, ln high)`.
    LogUniform(f64, f64),
    /// An integer in `[low, high]` (both ends included).
    RandInt(i64, i64),
    /// One of the values, as written.
    Choice(Vec<Value>),
}

/// The generator of point `point` of the `random` block of document
/// `document`.
pub(crate) fn point_rng(seed: u64, document: u64, point: u64) -> ChaCha12Rng {
    let mut key = [0_u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&document.to_le_bytes());
    key[16..24].copy_from_slice(&point.to_le_bytes());
    key[24..].copy_from_slice(b"cr-sweep");
    ChaCha12Rng::from_seed(key)
}

impl Dist {
    /// `{uniform: [0, 0.5]}`, `{loguniform: [1.0e-6, 1.0e-2]}`,
    /// `{randint: [2, 8]}`, `{choice: [adam, sgd]}`, or a list (a choice).
    /// The error is the message; `Err(None)` is an unknown distribution
    /// name, for the caller to report with a hint.
    pub(crate) fn parse(value: &Value) -> Result<Self, DistError> {
        let (name, args) = match value {
            Value::Sequence(items) => ("choice", items),
            Value::Mapping(map) if map.len() == 1 => {
                let Some((Value::String(name), args)) = map.iter().next() else {
                    return Err(DistError::Shape);
                };
                if !DISTRIBUTIONS.contains(&name.as_str()) {
                    return Err(DistError::Unknown(name.clone()));
                }
                let Value::Sequence(args) = args else {
                    return Err(DistError::Bad(format!("`{name}` takes a list")));
                };
                (name.as_str(), args)
            }
            _ => return Err(DistError::Shape),
        };
        match name {
            "choice" if args.is_empty() => {
                Err(DistError::Bad("`choice: []` is an empty axis".to_owned()))
            }
            "choice" => Ok(Self::Choice(args.clone())),
            "randint" => {
                let ints: Option<Vec<i64>> = args.iter().map(Value::as_i64).collect();
                match ints.as_deref() {
                    Some(&[low, high]) if low <= high => Ok(Self::RandInt(low, high)),
                    _ => Err(DistError::Bad(format!(
                        "`randint` takes `[low, high]`, integers with low ≤ high (both \
                         included), found `[{}]`",
                        list_text(args)
                    ))),
                }
            }
            _ => {
                let floats: Option<Vec<f64>> = args
                    .iter()
                    .map(|v| v.as_f64().filter(|f| f.is_finite()))
                    .collect();
                let log = name == "loguniform";
                match floats.as_deref() {
                    Some(&[low, high])
                        if low < high && (high - low).is_finite() && (!log || low > 0.0) =>
                    {
                        Ok(if log {
                            Self::LogUniform(low, high)
                        } else {
                            Self::Uniform(low, high)
                        })
                    }
                    _ => Err(DistError::Bad(format!(
                        "`{name}` takes `[low, high]`, numbers with low < high{}, found `[{}]`",
                        if log { " and low > 0" } else { "" },
                        list_text(args)
                    ))),
                }
            }
        }
    }

    /// Draw one value.
    pub(crate) fn draw(&self, rng: &mut ChaCha12Rng) -> Value {
        match self {
            Self::Uniform(low, high) => Value::from(low + (high - low) * rng.gen::<f64>()),
            Self::LogUniform(low, high) => {
                let (a, b) = (low.ln(), high.ln());
                // `exp` may round onto `high`; the range stays half-open.
                Value::from((a + (b - a) * rng.gen::<f64>()).exp().min(*high).max(*low))
            }
            Self::RandInt(low, high) => Value::from(rng.gen_range(*low..=*high)),
            Self::Choice(items) => items[rng.gen_range(0..items.len())].clone(),
        }
    }
}

/// Why a distribution cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DistError {
    /// Neither a one-key mapping nor a list.
    Shape,
    /// A name that is not a distribution.
    Unknown(String),
    /// The message.
    Bad(String),
}

fn list_text(args: &[Value]) -> String {
    args.iter().map(value_text).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist(text: &str) -> Result<Dist, DistError> {
        Dist::parse(&yaml_serde::from_str(text).unwrap())
    }

    #[test]
    fn draws_stay_in_range_and_repeat() {
        let dists = [
            dist("{uniform: [0, 0.5]}").unwrap(),
            dist("{loguniform: [1.0e-6, 1.0e-2]}").unwrap(),
            dist("{randint: [2, 8]}").unwrap(),
            dist("{choice: [adam, sgd]}").unwrap(),
        ];
        let mut seen_ints = std::collections::BTreeSet::new();
        for point in 0..500 {
            let mut rng = point_rng(7, 1, point);
            let values: Vec<Value> = dists.iter().map(|d| d.draw(&mut rng)).collect();
            let u = values[0].as_f64().unwrap();
            assert!((0.0..0.5).contains(&u));
            let l = values[1].as_f64().unwrap();
            assert!((1.0e-6..=1.0e-2).contains(&l));
            let i = values[2].as_i64().unwrap();
            assert!((2..=8).contains(&i));
            seen_ints.insert(i);
            assert!(matches!(values[3].as_str(), Some("adam" | "sgd")));
            let mut again = point_rng(7, 1, point);
            let repeated: Vec<Value> = dists.iter().map(|d| d.draw(&mut again)).collect();
            assert_eq!(values, repeated);
        }
        assert_eq!(seen_ints.len(), 7, "randint includes both ends");
        let (mut a, mut b) = (point_rng(7, 1, 0), point_rng(7, 2, 0));
        assert_ne!(dists[0].draw(&mut a), dists[0].draw(&mut b));
    }

    #[test]
    fn bad_distributions() {
        assert_eq!(
            dist("{unifrom: [0, 1]}").unwrap_err(),
            DistError::Unknown("unifrom".into())
        );
        assert_eq!(dist("3").unwrap_err(), DistError::Shape);
        assert_eq!(
            dist("{uniform: [0, 1], choice: [1]}").unwrap_err(),
            DistError::Shape
        );
        for text in [
            "{uniform: [1, 0]}",
            "{uniform: [0]}",
            "{loguniform: [0, 1]}",
            "{randint: [2.5, 8]}",
            "{randint: [8, 2]}",
            "{choice: []}",
            "[]",
            "{uniform: 3}",
        ] {
            assert!(matches!(dist(text), Err(DistError::Bad(_))), "{text}");
        }
        assert!(matches!(dist("[a, b]").unwrap(), Dist::Choice(v) if v.len() == 2));
    }
}
