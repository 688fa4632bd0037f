//! Which top-level keys of the document an expression can read.
//!
//! `filter` binds a hundred thousand documents; building only the keys the
//! expressions use (`exp.ACC`, `exp["ACC"]`, `"ACC" in exp`) makes that
//! several times cheaper. The analysis is deliberately conservative: any
//! other use of the document variable — a method call (`exp.keys()`), an
//! index that is not a string literal, passing `exp` to a function,
//! interpolated strings, `?.` — means "every key".

use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq)]
enum Token<'a> {
    Ident(&'a str),
    /// A string literal's text (without escapes).
    Str(&'a str),
    Punct(char),
    Other,
}

/// Tokens of Rhai text; `None` for text this simple lexer does not handle
/// (escapes, back-tick strings, comments).
fn tokens(text: &str) -> Option<Vec<Token<'_>>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 {
            let start = i;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] >= 0x80)
            {
                i += 1;
            }
            out.push(Token::Ident(&text[start..i]));
        } else if c.is_ascii_digit() {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            // A float's `.5` continues the number, not a property access.
            if i + 1 < bytes.len() && bytes[i] == b'.' && bytes[i + 1].is_ascii_digit() {
                i += 1;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
            }
            out.push(Token::Other);
        } else if c == b'"' {
            let start = i + 1;
            let end = start + text[start..].find('"')?;
            let inner = &text[start..end];
            if inner.contains('\\') {
                return None;
            }
            out.push(Token::Str(inner));
            i = end + 1;
        } else if c == b'`'
            || c == b'\''
            || (c == b'/' && bytes.get(i + 1).is_some_and(|&n| n == b'/' || n == b'*'))
        {
            return None;
        } else {
            out.push(Token::Punct(c as char));
            i += 1;
        }
    }
    Some(out)
}

/// The names of functions the text calls directly (`f(...)`, `x.f(...)`);
/// empty when this lexer cannot read the text.
pub(crate) fn called_functions(text: &str) -> Vec<&str> {
    let Some(tokens) = tokens(text) else {
        return Vec::new();
    };
    tokens
        .windows(2)
        .filter_map(|pair| match pair {
            [Token::Ident(name), Token::Punct('(')] => Some(*name),
            _ => None,
        })
        .collect()
}

/// The top-level keys read through `names`, or `None` for "any key".
pub(crate) fn used_keys(text: &str, names: &[&str]) -> Option<BTreeSet<String>> {
    let tokens = tokens(text)?;
    let mut keys = BTreeSet::new();
    for (i, token) in tokens.iter().enumerate() {
        let Token::Ident(name) = token else { continue };
        if !names.contains(name) {
            continue;
        }
        let before = |n: usize| i.checked_sub(n).and_then(|j| tokens.get(j));
        let after = |n: usize| tokens.get(i + n);
        // `x.exp` is a property of something else, not the variable.
        if before(1) == Some(&Token::Punct('.')) {
            if before(2) == Some(&Token::Punct('?')) {
                return None;
            }
            continue;
        }
        match (after(1), after(2), after(3)) {
            (Some(Token::Punct('.')), Some(Token::Ident(key)), next)
                if next != Some(&Token::Punct('(')) =>
            {
                keys.insert((*key).to_owned());
            }
            (Some(Token::Punct('[')), Some(Token::Str(key)), Some(Token::Punct(']'))) => {
                keys.insert((*key).to_owned());
            }
            _ => match (before(2), before(1)) {
                (Some(Token::Str(key)), Some(Token::Ident("in"))) => {
                    keys.insert((*key).to_owned());
                }
                _ => return None,
            },
        }
    }
    Some(keys)
}

#[cfg(test)]
mod tests {
    use super::used_keys;

    fn keys(text: &str) -> Option<Vec<String>> {
        used_keys(text, &["exp", "e"]).map(|k| k.into_iter().collect())
    }

    #[test]
    fn simple_uses_name_their_keys() {
        assert_eq!(
            keys(r#""ACC" in exp && exp.ACC > 0.9 && e["TIME"] < 1.5 && exp.model.depth == 20"#),
            Some(vec!["ACC".into(), "TIME".into(), "model".into()])
        );
        assert_eq!(
            keys("[exp.a, exp.b.len()]"),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(keys("x.exp + 1"), Some(vec![]));
    }

    #[test]
    fn anything_else_means_every_key() {
        for text in [
            "exp.keys().len() > 3",
            "exp.len()",
            "exp[k]",
            "f(exp)",
            "exp",
            "`${exp.a}`",
            "exp?.a",
            r#"exp["a\"b"]"#,
            "exp.a // comment",
            "#{exp: 1}.exp",
            "x in exp",
        ] {
            assert_eq!(keys(text), None, "{text}");
        }
    }
}
