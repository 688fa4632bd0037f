//! `fmt(x, spec)`: the subset of Python's format mini-language that f-string
//! fields such as `{lr:.3f}` use: `[0][width][.precision][type]` with the
//! types `f`, `e`, `%`, `d`, `s` and none.

use rhai::Dynamic;

use super::limits::{MAX_FORMAT_WIDTH, REFUSED};

/// A width or precision, refused above [`MAX_FORMAT_WIDTH`] before anything
/// is formatted (Rust's formatter panics on a precision of 65,536 or more).
fn bounded(digits: &str, what: &str) -> Result<usize, String> {
    match digits.parse::<usize>() {
        Ok(n) if n <= MAX_FORMAT_WIDTH => Ok(n),
        _ => Err(format!(
            "{REFUSED}the format {what} {digits} is over the limit of {MAX_FORMAT_WIDTH}"
        )),
    }
}

pub(crate) fn format_spec(x: &Dynamic, spec: &str) -> Result<String, String> {
    let bad = || {
        format!("unsupported format spec `{spec}` (supported: [0][width][.precision][f|e|%|d|s])")
    };
    let mut rest = spec;
    let zero = rest.starts_with('0');
    if zero {
        rest = &rest[1..];
    }
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    let width = if digits == 0 {
        0
    } else {
        bounded(&rest[..digits], "width")?
    };
    rest = &rest[digits..];
    let mut precision = None;
    if let Some(after) = rest.strip_prefix('.') {
        let digits = after.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        precision = Some(bounded(&after[..digits], "precision")?);
        rest = &after[digits..];
    }
    let number = x
        .as_float()
        .ok()
        .or_else(|| x.as_int().ok().map(|i| i as f64));
    let body = match (rest, number) {
        ("f", Some(v)) => format!("{v:.*}", precision.unwrap_or(6)),
        ("e", Some(v)) => python_exp(v, precision.unwrap_or(6)),
        ("%", Some(v)) => format!("{:.*}%", precision.unwrap_or(6), v * 100.0),
        ("d", _) if x.is_int() => x.to_string(),
        ("", Some(v)) if precision.is_some() && !x.is_int() => {
            format!("{v:.*}", precision.unwrap_or(6))
        }
        ("" | "s", _) => {
            let text = if x.is_string() {
                x.clone().into_string().unwrap_or_default()
            } else {
                x.to_string()
            };
            match precision {
                Some(p) => text.chars().take(p).collect(),
                None => text,
            }
        }
        _ => return Err(bad()),
    };
    if body.chars().count() >= width {
        return Ok(body);
    }
    let pad = width - body.chars().count();
    Ok(if zero && number.is_some() {
        let (sign, digits) = body
            .strip_prefix('-')
            .map_or(("", body.as_str()), |d| ("-", d));
        format!("{sign}{}{digits}", "0".repeat(pad))
    } else if number.is_some() {
        format!("{}{body}", " ".repeat(pad))
    } else {
        format!("{body}{}", " ".repeat(pad))
    })
}

/// Python writes `1.000000e-03`; Rust writes `1.000000e-3`.
fn python_exp(v: f64, precision: usize) -> String {
    let text = format!("{v:.precision$e}");
    match text.split_once('e') {
        Some((mantissa, exp)) => {
            let (sign, digits) = exp.strip_prefix('-').map_or(("+", exp), |d| ("-", d));
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::format_spec;
    use rhai::Dynamic;

    #[test]
    fn python_format_subset() {
        let f = |x: Dynamic, s: &str| format_spec(&x, s).unwrap();
        assert_eq!(f(Dynamic::from_float(0.123_456), ".3f"), "0.123");
        assert_eq!(f(Dynamic::from_float(0.001), ".2e"), "1.00e-03");
        assert_eq!(f(Dynamic::from_float(0.25), ".1%"), "25.0%");
        assert_eq!(f(Dynamic::from_int(7), "03d"), "007");
        assert_eq!(f(Dynamic::from_int(7), "3"), "  7");
        assert_eq!(f(Dynamic::from("ab"), "4"), "ab  ");
        assert!(format_spec(&Dynamic::from_int(1), "x").is_err());
    }

    #[test]
    fn width_and_precision_are_bounded_before_formatting() {
        let x = Dynamic::from_float(1.5);
        for spec in [
            "999999999",
            ".65536f",
            ".70000e",
            ".65536%",
            "1001",
            ".1001",
            "99999999999999999999999",
        ] {
            let err = format_spec(&x, spec).unwrap_err();
            assert!(err.contains("over the limit of 1000"), "{spec}: {err}");
        }
        assert_eq!(format_spec(&x, "1000").unwrap().len(), 1000);
        assert_eq!(format_spec(&x, ".1000f").unwrap().len(), 1002);
    }
}
