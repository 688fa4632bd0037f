//! The values of one sweep axis: a list as written, or a generator whose
//! value *k* is computed on demand (`range`, `linspace`, `geomspace`), so
//! an axis of a million values is never a list.
//!
//! Decimal generators are exact: numbers are read as decimals (a YAML float
//! is read as the shortest decimal that gives it back, so `0.1` is 1/10),
//! computed on 128-bit integers scaled by a power of ten, and only the
//! result is turned into the nearest float: `range: [0, 1, 0.1]` gives
//! `0.3`, never `0.30000000000000004`.

use yaml_serde::Value;

/// Most decimal digits kept after the point (more is refused as a bad range).
const MAX_SCALE: u32 = 30;

/// A decimal number: `mantissa × 10^-scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decimal {
    mantissa: i128,
    scale: u32,
}

impl Decimal {
    /// Read a YAML number exactly (an integer, or the shortest decimal form
    /// of a float); `None` for anything else, infinities and NaN, or more
    /// digits than 128 bits hold.
    pub(crate) fn from_value(value: &Value) -> Option<Self> {
        let Value::Number(n) = value else {
            return None;
        };
        if let Some(i) = n.as_i64() {
            return Some(Self {
                mantissa: i128::from(i),
                scale: 0,
            });
        }
        if let Some(u) = n.as_u64() {
            return Some(Self {
                mantissa: i128::from(u),
                scale: 0,
            });
        }
        let f = n.as_f64().filter(|f| f.is_finite())?;
        // `Display` of an f64 is its shortest round-trip form, never with
        // an exponent.
        Self::parse(&f.to_string())
    }

    /// `-12.5`, `3`, `0.001` (no exponent).
    fn parse(text: &str) -> Option<Self> {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let fraction = fraction.trim_end_matches('0');
        let scale = u32::try_from(fraction.len()).ok()?;
        if scale > MAX_SCALE {
            return None;
        }
        let mut mantissa: i128 = 0;
        for c in whole.chars().chain(fraction.chars()) {
            let digit = i128::from(c.to_digit(10)?);
            mantissa = mantissa.checked_mul(10)?.checked_add(digit)?;
        }
        Some(Self {
            mantissa: if negative { -mantissa } else { mantissa },
            scale,
        })
    }

    /// The same number with `scale` digits after the point.
    fn rescale(self, scale: u32) -> Option<i128> {
        let up = scale.checked_sub(self.scale)?;
        self.mantissa.checked_mul(10_i128.checked_pow(up)?)
    }

    pub(crate) fn is_integer(self) -> bool {
        self.scale == 0
    }
}

/// `mantissa × 10^-scale` as the nearest float: written out as a decimal
/// and parsed, which Rust rounds correctly.
fn to_f64(mantissa: i128, scale: u32) -> f64 {
    let digits = mantissa.unsigned_abs().to_string();
    let scale = scale as usize;
    let text = if scale == 0 {
        digits
    } else if digits.len() > scale {
        let (whole, fraction) = digits.split_at(digits.len() - scale);
        format!("{whole}.{fraction}")
    } else {
        format!("0.{}{digits}", "0".repeat(scale - digits.len()))
    };
    let value: f64 = text.parse().unwrap_or(f64::NAN);
    if mantissa < 0 {
        -value
    } else {
        value
    }
}

/// Round to 15 significant digits: what a float computed through `powf`
/// means, without the noise in its last bits (`0.0010000000000000002`).
fn round_15(value: f64) -> f64 {
    format!("{value:.14e}").parse().unwrap_or(value)
}

/// The values of an axis.
#[derive(Debug, Clone)]
pub(crate) enum Values {
    /// Written out.
    List(Vec<Value>),
    /// `start + k × step` at a common `scale`; integers when `integers`.
    Range {
        start: i128,
        step: i128,
        scale: u32,
        len: u64,
        integers: bool,
    },
    /// `start + (stop - start) × k / (len - 1)`.
    Linspace {
        start: i128,
        diff: i128,
        scale: u32,
        len: u64,
    },
    /// `start × (stop / start)^(k / (len - 1))`.
    Geomspace { start: f64, stop: f64, len: u64 },
}

impl Values {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Self::List(items) => items.len() as u64,
            Self::Range { len, .. } | Self::Linspace { len, .. } | Self::Geomspace { len, .. } => {
                *len
            }
        }
    }

    /// Value `k` (`k < len`).
    pub(crate) fn get(&self, k: u64) -> Value {
        match self {
            Self::List(items) => items[k as usize].clone(),
            Self::Range {
                start,
                step,
                scale,
                integers,
                ..
            } => {
                // In range by construction: between start and stop.
                let m = start + i128::from(k) * step;
                match i64::try_from(m) {
                    Ok(i) if *integers => Value::from(i),
                    _ => Value::from(to_f64(m, *scale)),
                }
            }
            Self::Linspace {
                start,
                diff,
                scale,
                len,
            } => Value::from(linspace_at(*start, *diff, *scale, *len, k)),
            Self::Geomspace { start, stop, len } => {
                Value::from(geomspace_at(*start, *stop, *len, k))
            }
        }
    }

    /// `{range: [start, stop, step]}`: stop excluded, step 1 by default.
    pub(crate) fn range(args: &[Value]) -> Result<Self, String> {
        let usage = "`range` takes `[start, stop]` or `[start, stop, step]` (numbers)";
        if !(2..=3).contains(&args.len()) {
            return Err(usage.to_owned());
        }
        let numbers = decimals(args, "range")?;
        let step = numbers.get(2).copied().unwrap_or(Decimal {
            mantissa: 1,
            scale: 0,
        });
        let (from, to) = (numbers[0], numbers[1]);
        let scale = from.scale.max(to.scale).max(step.scale);
        let too_big = || "`range`: the numbers are too large for exact decimals".to_owned();
        let (a, b, s) = (
            from.rescale(scale).ok_or_else(too_big)?,
            to.rescale(scale).ok_or_else(too_big)?,
            step.rescale(scale).ok_or_else(too_big)?,
        );
        if s == 0 {
            return Err("`range`: the step is 0".to_owned());
        }
        let diff = b.checked_sub(a).ok_or_else(too_big)?;
        if diff == 0 || (diff > 0) != (s > 0) {
            return Err(format!(
                "`range: [{}]` is empty: a {} step needs stop {} start",
                list_text(args),
                if s > 0 { "positive" } else { "negative" },
                if s > 0 { "above" } else { "below" }
            ));
        }
        let mut len = diff / s;
        if diff % s != 0 {
            len += 1;
        }
        Ok(Self::Range {
            start: a,
            step: s,
            scale,
            len: u64::try_from(len).map_err(|_| too_big())?,
            integers: from.is_integer() && to.is_integer() && step.is_integer(),
        })
    }

    /// `{linspace: [start, stop, n]}`: n values, both ends included.
    pub(crate) fn linspace(args: &[Value]) -> Result<Self, String> {
        let (start, stop, len) = ends_and_count(args, "linspace")?;
        let (start, stop) = (Decimal::from_value(start), Decimal::from_value(stop));
        let (Some(start), Some(stop)) = (start, stop) else {
            return Err(format!(
                "`linspace`: start and stop must be finite numbers with at most {MAX_SCALE} \
                 decimals"
            ));
        };
        let scale = start.scale.max(stop.scale);
        let too_big = || "`linspace`: the numbers are too large for exact decimals".to_owned();
        let a = start.rescale(scale).ok_or_else(too_big)?;
        let b = stop.rescale(scale).ok_or_else(too_big)?;
        Ok(Self::Linspace {
            start: a,
            diff: b.checked_sub(a).ok_or_else(too_big)?,
            scale,
            len,
        })
    }

    /// `{geomspace: [start, stop, n]}`: n values evenly spaced on a log
    /// scale, both ends included; start and stop non-zero, same sign.
    pub(crate) fn geomspace(args: &[Value]) -> Result<Self, String> {
        let (start, stop, len) = ends_and_count(args, "geomspace")?;
        let finite = |v: &Value| v.as_f64().filter(|f| f.is_finite());
        let (Some(start), Some(stop)) = (finite(start), finite(stop)) else {
            return Err("`geomspace`: start and stop must be finite numbers".to_owned());
        };
        if start == 0.0 || stop == 0.0 || (start < 0.0) != (stop < 0.0) {
            return Err(
                "`geomspace`: start and stop must be non-zero and of the same sign".to_owned(),
            );
        }
        Ok(Self::Geomspace { start, stop, len })
    }
}

fn linspace_at(start: i128, diff: i128, scale: u32, len: u64, k: u64) -> f64 {
    if len == 1 || k == 0 {
        return to_f64(start, scale);
    }
    let steps = i128::from(len - 1);
    // start + diff × k / steps, as (start × steps + diff × k) / steps, with
    // as many extra digits as fit: exact when the decimal is, and within
    // the last digit of 20 or more otherwise.
    let Some(mut numerator) = start
        .checked_mul(steps)
        .and_then(|s| diff.checked_mul(i128::from(k))?.checked_add(s))
    else {
        return to_f64(start, scale) + to_f64(diff, scale) * k as f64 / (len - 1) as f64;
    };
    let mut scale = scale;
    while scale < MAX_SCALE + 10 {
        match numerator.checked_mul(10) {
            Some(n) if n.checked_mul(10).is_some() => {
                numerator = n;
                scale += 1;
            }
            _ => break,
        }
    }
    to_f64(numerator / steps, scale)
}

fn geomspace_at(start: f64, stop: f64, len: u64, k: u64) -> f64 {
    if k == 0 || len == 1 {
        return start;
    }
    if k == len - 1 {
        return stop;
    }
    let (a, b) = (start.abs().log10(), stop.abs().log10());
    let value = 10_f64.powf(a + (b - a) * k as f64 / (len - 1) as f64);
    round_15(value).copysign(start)
}

/// The numbers of a generator, read as exact decimals.
fn decimals(args: &[Value], what: &str) -> Result<Vec<Decimal>, String> {
    args.iter()
        .map(|v| {
            Decimal::from_value(v).ok_or_else(|| {
                format!(
                    "`{what}` takes finite numbers (with at most {MAX_SCALE} decimals), found `{}`",
                    value_text(v)
                )
            })
        })
        .collect()
}

/// `[start, stop, n]` with n an integer of at least 1.
fn ends_and_count<'v>(
    args: &'v [Value],
    what: &str,
) -> Result<(&'v Value, &'v Value, u64), String> {
    let [start, stop, n] = args else {
        return Err(format!("`{what}` takes `[start, stop, n]`"));
    };
    match n.as_u64() {
        Some(0) => Err(format!("`{what}` with n = 0 is an empty axis")),
        Some(n) => Ok((start, stop, n)),
        None => Err(format!(
            "`{what}`: n must be an integer of at least 1, found `{}`",
            value_text(n)
        )),
    }
}

/// A value as YAML flow text, for messages.
pub(crate) fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => yaml_serde::to_string(other)
            .map_or_else(|_| "?".to_owned(), |s| s.trim_end().to_owned()),
    }
}

fn list_text(args: &[Value]) -> String {
    args.iter().map(value_text).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(v: &Values) -> Vec<String> {
        (0..v.len()).map(|k| value_text(&v.get(k))).collect()
    }

    fn args(text: &str) -> Vec<Value> {
        yaml_serde::from_str(text).unwrap()
    }

    #[test]
    fn decimal_ranges_are_exact() {
        let r = Values::range(&args("[0, 1, 0.1]")).unwrap();
        assert_eq!(
            values(&r),
            ["0.0", "0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9"]
        );
        let r = Values::range(&args("[1, 0, -0.25]")).unwrap();
        assert_eq!(values(&r), ["1.0", "0.75", "0.5", "0.25"]);
        // Stop excluded even when the step does not divide the span.
        let r = Values::range(&args("[0, 1, 0.3]")).unwrap();
        assert_eq!(values(&r), ["0.0", "0.3", "0.6", "0.9"]);
        let r = Values::range(&args("[0.001, 0.0035, 0.0005]")).unwrap();
        assert_eq!(values(&r), ["0.001", "0.0015", "0.002", "0.0025", "0.003"]);
    }

    #[test]
    fn integer_ranges_give_integers() {
        let r = Values::range(&args("[2, 5]")).unwrap();
        assert_eq!(values(&r), ["2", "3", "4"]);
        assert!(matches!(r.get(0), Value::Number(n) if n.is_i64()));
        let r = Values::range(&args("[10, 0, -3]")).unwrap();
        assert_eq!(values(&r), ["10", "7", "4", "1"]);
        let big = Values::range(&args("[0, 1000000000000]")).unwrap();
        assert_eq!(big.len(), 1_000_000_000_000);
        assert_eq!(value_text(&big.get(999_999_999_999)), "999999999999");
    }

    #[test]
    fn bad_ranges() {
        for (text, message) in [
            ("[0, 1, 0]", "the step is 0"),
            ("[1, 0]", "is empty"),
            ("[0, 1, -0.1]", "is empty"),
            ("[0, 0]", "is empty"),
            ("[0]", "takes `[start, stop]`"),
            ("[0, x]", "takes finite numbers"),
            ("[0, .inf]", "takes finite numbers"),
            ("[0, 1, 1.0e-40]", "takes finite numbers"),
        ] {
            let err = Values::range(&args(text)).unwrap_err();
            assert!(err.contains(message), "{text}: {err}");
        }
    }

    #[test]
    fn linspace_and_geomspace() {
        let l = Values::linspace(&args("[0, 1, 11]")).unwrap();
        assert_eq!(values(&l)[3], "0.3");
        assert_eq!(values(&l)[10], "1.0");
        let l = Values::linspace(&args("[0, 1, 4]")).unwrap();
        assert_eq!(
            values(&l),
            ["0.0", "0.3333333333333333", "0.6666666666666666", "1.0"]
        );
        assert_eq!(
            values(&Values::linspace(&args("[5, 6, 1]")).unwrap()),
            ["5.0"]
        );
        let g = Values::geomspace(&args("[1.0e-4, 1, 5]")).unwrap();
        assert_eq!(values(&g), ["0.0001", "0.001", "0.01", "0.1", "1.0"]);
        let g = Values::geomspace(&args("[-8, -1, 4]")).unwrap();
        assert_eq!(values(&g), ["-8.0", "-4.0", "-2.0", "-1.0"]);
        assert!(Values::linspace(&args("[0, 1, 0]"))
            .unwrap_err()
            .contains("empty axis"));
        assert!(Values::linspace(&args("[0, 1, 2.5]")).is_err());
        assert!(Values::geomspace(&args("[0, 1, 3]")).is_err());
        assert!(Values::geomspace(&args("[-1, 1, 3]")).is_err());
    }
}
