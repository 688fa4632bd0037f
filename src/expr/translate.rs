//! Python-flavoured expression text → Rhai.
//!
//! The original tool evaluated Python; files written for it use f-strings,
//! single-quoted strings and `and`/`or`/`not`. This translator accepts those
//! forms so that such files keep working, and leaves valid Rhai unchanged:
//!
//! * `f"{Name}/{E[-1].Name}"` and `f'...'` become Rhai interpolation
//!   `` `${Name}/${E[-1].Name}` ``; `{{`/`}}` are literal braces; a format
//!   spec `{lr:.3f}` becomes `${fmt(lr, ".3f")}`;
//! * `'text'` becomes `"text"` (Rhai would read a character literal);
//! * `and`, `or`, `not`, `True`, `False`, `None` become `&&`, `||`, `!`,
//!   `true`, `false`, `()`;
//! * `//` (floor division) becomes `/`, which is integer division on integers
//!   in Rhai (Rhai has no `//` operator: it would start a comment).
//!
//! Text inside `"..."` and `` `...` `` strings is copied as written.

/// Translate one expression (without its `parse ` prefix).
pub fn translate(src: &str) -> String {
    let mut out = String::with_capacity(src.len() + 8);
    let chars: Vec<char> = src.chars().collect();
    translate_code(&chars, &mut out);
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn translate_code(chars: &[char], out: &mut String) {
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let prev = if i > 0 { Some(chars[i - 1]) } else { None };
        match c {
            'f' | 'F'
                if matches!(chars.get(i + 1), Some('"' | '\'')) && !prev.is_some_and(is_ident) =>
            {
                i = fstring(chars, i + 1, out);
            }
            '"' | '`' => {
                let end = skip_string(chars, i, c);
                out.extend(&chars[i..end]);
                i = end;
            }
            '\'' => {
                i = single_quoted(chars, i, out);
            }
            '/' if chars.get(i + 1) == Some(&'/') => {
                out.push('/');
                i += 2;
            }
            c if is_ident(c) && !prev.is_some_and(is_ident) => {
                let start = i;
                while i < chars.len() && is_ident(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let after_dot = chars[..start]
                    .iter()
                    .rev()
                    .find(|c| !c.is_whitespace())
                    .is_some_and(|&c| c == '.');
                let replacement = if after_dot {
                    None
                } else {
                    match word.as_str() {
                        "and" => Some("&&"),
                        "or" => Some("||"),
                        "not" => Some("!"),
                        "True" => Some("true"),
                        "False" => Some("false"),
                        "None" => Some("()"),
                        _ => None,
                    }
                };
                out.push_str(replacement.unwrap_or(&word));
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
}

/// Index just past the string literal that starts at `start` with `quote`.
fn skip_string(chars: &[char], start: usize, quote: char) -> usize {
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' if quote != '`' => i += 2,
            c if c == quote => {
                // A doubled back-tick is an escaped back-tick in Rhai.
                if quote == '`' && chars.get(i + 1) == Some(&'`') {
                    i += 2;
                    continue;
                }
                return i + 1;
            }
            _ => i += 1,
        }
    }
    chars.len()
}

/// `'text'` → `"text"`; returns the index after the literal.
fn single_quoted(chars: &[char], start: usize, out: &mut String) -> usize {
    let mut i = start + 1;
    out.push('"');
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                if chars[i + 1] == '\'' {
                    out.push('\'');
                } else {
                    out.push('\\');
                    out.push(chars[i + 1]);
                }
                i += 2;
            }
            '\'' => {
                out.push('"');
                return i + 1;
            }
            '"' => {
                out.push_str("\\\"");
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    // Unterminated: leave it unterminated so that Rhai reports the error.
    chars.len()
}

/// `f"..."` starting at the quote `start`; returns the index after it.
fn fstring(chars: &[char], start: usize, out: &mut String) -> usize {
    let quote = chars[start];
    let mut i = start + 1;
    out.push('`');
    while i < chars.len() {
        let c = chars[i];
        match c {
            _ if c == quote => {
                out.push('`');
                return i + 1;
            }
            '\\' if i + 1 < chars.len() => {
                out.push(chars[i + 1]);
                i += 2;
            }
            '{' if chars.get(i + 1) == Some(&'{') => {
                out.push('{');
                i += 2;
            }
            '}' if chars.get(i + 1) == Some(&'}') => {
                out.push('}');
                i += 2;
            }
            '{' => {
                let (end, field, spec) = fstring_field(chars, i + 1, quote);
                let mut code = String::new();
                translate_code(&field, &mut code);
                out.push_str("${");
                match spec {
                    Some(spec) => {
                        out.push_str("fmt(");
                        out.push_str(&code);
                        out.push_str(", \"");
                        out.push_str(&spec.replace('"', "\\\""));
                        out.push_str("\")");
                    }
                    None => out.push_str(&code),
                }
                out.push('}');
                i = end;
            }
            '`' => {
                out.push_str("``");
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    chars.len()
}

/// The replacement field after `{`: its code (with the f-string's own quote
/// normalised) and an optional format spec; returns the index after `}`.
fn fstring_field(chars: &[char], start: usize, outer: char) -> (usize, Vec<char>, Option<String>) {
    let mut depth = 0usize;
    let mut i = start;
    let mut field = Vec::new();
    let mut spec: Option<String> = None;
    while i < chars.len() {
        let c = chars[i];
        if let Some(spec) = spec.as_mut() {
            if c == '}' {
                return (i + 1, field, Some(spec.clone()));
            }
            spec.push(c);
            i += 1;
            continue;
        }
        match c {
            '"' | '\'' if c != outer => {
                let end = skip_string(chars, i, c);
                field.extend(&chars[i..end]);
                i = end;
            }
            '(' | '[' | '{' => {
                depth += 1;
                field.push(c);
                i += 1;
            }
            ')' | ']' => {
                depth = depth.saturating_sub(1);
                field.push(c);
                i += 1;
            }
            '}' if depth == 0 => return (i + 1, field, None),
            '}' => {
                depth -= 1;
                field.push(c);
                i += 1;
            }
            ':' if depth == 0 && chars.get(i + 1) != Some(&':') => {
                spec = Some(String::new());
                i += 1;
            }
            _ => {
                field.push(c);
                i += 1;
            }
        }
    }
    (chars.len(), field, spec)
}

#[cfg(test)]
mod tests {
    use super::translate;

    #[test]
    fn plain_rhai_is_unchanged() {
        for src in [
            "abc",
            "E[-1].list[2]",
            "nested.test + 1",
            "`${Name}/${model}`",
            "\"a'b\" + x",
            "if x > 1 { \"big\" } else { \"small\" }",
            "#{a: 1, b: [1, 2]}",
        ] {
            assert_eq!(translate(src), src, "{src}");
        }
    }

    #[test]
    fn fstrings_become_interpolation() {
        assert_eq!(
            translate(r#"f"{Name}/{E[-1].Name}/{model}""#),
            "`${Name}/${E[-1].Name}/${model}`"
        );
        assert_eq!(
            translate(r#"f'{Name}-{nested["test"]}' + "_x""#),
            r#"`${Name}-${nested["test"]}` + "_x""#
        );
        assert_eq!(translate(r#"f"{{literal}} {a+1}""#), "`{literal} ${a+1}`");
        assert_eq!(translate(r#"f"tick`{Name}""#), "`tick``${Name}`");
        assert_eq!(translate(r#"f"{E['x'].y}""#), r#"`${E["x"].y}`"#);
    }

    #[test]
    fn format_specs_call_fmt() {
        assert_eq!(translate(r#"f"lr={lr:.3f}""#), r#"`lr=${fmt(lr, ".3f")}`"#);
        assert_eq!(
            translate(r#"f"{#{a: 1}.a}""#),
            "`${#{a: 1}.a}`",
            "a colon inside braces is not a spec"
        );
    }

    #[test]
    fn python_words_and_quotes() {
        assert_eq!(translate("a and not b or c"), "a && ! b || c");
        assert_eq!(translate("x == None or True"), "x == () || true");
        assert_eq!(translate("cfg.and + android"), "cfg.and + android");
        assert_eq!(translate("E['name'].lr"), "E[\"name\"].lr");
        assert_eq!(translate("'it\\'s \"x\"'"), "\"it's \\\"x\\\"\"");
        assert_eq!(translate("7 // 2"), "7 / 2");
        assert_eq!(translate("\"a // b\""), "\"a // b\"");
    }
}
