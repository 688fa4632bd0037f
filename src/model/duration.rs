//! Durations as people write them in an experiment file: `Timeout` and
//! `Global.grace`. A plain number is seconds (`90`, `1.5`); a string may
//! give units (`90s`, `2h`, `1h30m`, `500ms`, `1d`) or a clock
//! (`1:30:00` is h:m:s, `30:00` is m:s).

use std::time::Duration;

use yaml_serde::Value;

/// The longest duration accepted: about 31 years (a `Duration` from a
/// larger float would overflow).
pub(crate) const MAX_SECS: f64 = 1e9;

/// The seconds `value` stands for; `None` when it is not a duration.
pub(crate) fn seconds(value: &Value) -> Option<f64> {
    let secs = match value {
        Value::Number(n) => n.as_f64()?,
        Value::String(text) => parse(text.trim())?,
        _ => return None,
    };
    secs.is_finite().then_some(secs)
}

/// A duration of at most `MAX_SECS`, from seconds checked by the caller.
pub(crate) fn from_secs(secs: f64) -> Duration {
    Duration::from_secs_f64(secs.clamp(0.0, MAX_SECS))
}

fn parse(text: &str) -> Option<f64> {
    if text.contains(':') {
        return clock(text);
    }
    if let Ok(secs) = text.parse::<f64>() {
        return Some(secs);
    }
    let mut total = 0.0;
    let mut rest = text;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&end| end > 0)?;
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = rest[number_end..].trim_start();
        let unit_end = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_end] {
            "ms" => 0.001,
            "s" | "sec" | "secs" => 1.0,
            "m" | "min" | "mins" => 60.0,
            "h" | "hr" | "hrs" => 3600.0,
            "d" => 86_400.0,
            _ => return None,
        };
        total += number * unit;
        rest = rest[unit_end..].trim_start();
    }
    Some(total)
}

/// `h:m:s` or `m:s`; the last part may have a fraction.
fn clock(text: &str) -> Option<f64> {
    let parts: Vec<&str> = text.split(':').collect();
    if !(2..=3).contains(&parts.len()) {
        return None;
    }
    let mut total = 0.0;
    for (at, part) in parts.iter().enumerate() {
        let last = at + 1 == parts.len();
        let value: f64 = if last {
            part.parse().ok()?
        } else {
            f64::from(part.parse::<u32>().ok()?)
        };
        if at > 0 && value >= 60.0 {
            return None;
        }
        total = total * 60.0 + value;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(text: &str) -> Option<f64> {
        seconds(&yaml_serde::from_str(text).unwrap())
    }

    #[test]
    fn numbers_units_and_clocks() {
        for (text, want) in [
            ("90", 90.0),
            ("1.5", 1.5),
            ("'90'", 90.0),
            ("90s", 90.0),
            ("2h", 7200.0),
            ("1h30m", 5400.0),
            ("1h 30m", 5400.0),
            ("2 min", 120.0),
            ("500ms", 0.5),
            ("1d", 86_400.0),
            ("1:30:00", 5400.0),
            ("30:00", 1800.0),
            ("0:00:01.5", 1.5),
        ] {
            assert_eq!(secs(text), Some(want), "{text}");
        }
        for text in ["soon", "2x", "h", "1:70", "1:2:3:4", "[1]", "1h-2m", ".s"] {
            assert_eq!(secs(text), None, "{text}");
        }
    }
}
