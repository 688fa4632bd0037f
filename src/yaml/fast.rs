//! A fast parser for the plain subset of YAML that logs are written in.
//!
//! libyaml parses about 12 MB/s here (30 µs for a 30-line log document),
//! which alone would exceed `collect`'s and `filter`'s budgets. Logs written
//! by cool-runner, or by `yaml.dump` in a module, use a small subset: block
//! mappings of plain keys, plain or simply quoted scalars, block sequences of
//! scalars, and one-line flow sequences/mappings of scalars. This module
//! parses exactly that subset, about ten times faster, and gives up
//! (`None`) on anything else — anchors, tags, block scalars, multi-line
//! scalars, escapes, tabs, unusual numbers (`0x1F`, `042`, `.inf`), keys
//! that are not plain words, duplicate keys... — so that the caller parses
//! the text with `yaml_serde`. For what it accepts, the result equals
//! `yaml_serde`'s (checked on every document in debug builds, and on
//! generated log documents by a property test in every build).

use rustc_hash::FxHashSet;
use yaml_serde::{Mapping, Number, Value};

use crate::yaml::limits::MAX_DEPTH;

/// Keys this long (in bytes) are left to `yaml_serde`, which refuses one
/// longer than 1,024 characters.
const MAX_KEY: usize = 1000;

/// One content line: its indentation and text (comments and blank lines
/// are not lines here).
#[derive(Clone, Copy)]
struct Line<'a> {
    indent: usize,
    text: &'a str,
}

/// A resolved scalar, before it becomes a value of some kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(i64),
    /// A finite float and its text.
    Float(f64, &'a str),
    Str(&'a str),
}

/// What the parser builds: YAML values, Rhai values (in `expr`), or
/// nothing at all when only validating.
pub(crate) trait Builder {
    type Value;
    type Map;
    fn new_map(&mut self) -> Self::Map;
    /// Insert; `false` when the key was already there (a duplicate key,
    /// which makes the parser give up). May also return `false` for a key
    /// that is only possibly a duplicate: giving up is always safe.
    fn insert(&mut self, map: &mut Self::Map, key: &str, value: Self::Value) -> bool;
    fn map(&mut self, map: Self::Map) -> Self::Value;
    fn seq(&mut self, items: Vec<Self::Value>) -> Self::Value;
    fn scalar(&mut self, scalar: Scalar<'_>) -> Self::Value;
    /// Whether to build the value of this top-level key (the others are
    /// only validated).
    fn keep(&self, _key: &str) -> bool {
        true
    }
    /// Called before the value of `key` is parsed (in block and flow
    /// mappings, for kept keys only), for builders that write as they go.
    fn key(&mut self, _key: &str) {}
    /// Called before the items of a sequence are parsed (block or flow),
    /// for builders that write as they go.
    fn begin_seq(&mut self) {}
    /// Whether the text was already accepted whole by this parser (with
    /// another builder): its characters and depth are not checked again,
    /// and the builder may skip looking for duplicate keys.
    fn validated(&self) -> bool {
        false
    }
}

/// Builds `yaml_serde` values, of every top-level key or only of some.
#[derive(Default)]
pub(crate) struct YamlBuilder<'k> {
    pub only: Option<&'k [String]>,
}

impl Builder for YamlBuilder<'_> {
    fn keep(&self, key: &str) -> bool {
        self.only.is_none_or(|keys| keys.iter().any(|k| k == key))
    }
    type Value = Value;
    type Map = Mapping;
    fn new_map(&mut self) -> Mapping {
        Mapping::new()
    }
    fn insert(&mut self, map: &mut Mapping, key: &str, value: Value) -> bool {
        map.insert(Value::String(key.to_owned()), value).is_none()
    }
    fn map(&mut self, map: Mapping) -> Value {
        Value::Mapping(map)
    }
    fn seq(&mut self, items: Vec<Value>) -> Value {
        Value::Sequence(items)
    }
    fn scalar(&mut self, scalar: Scalar<'_>) -> Value {
        match scalar {
            Scalar::Null => Value::Null,
            Scalar::Bool(b) => Value::Bool(b),
            Scalar::Int(i) => Value::Number(Number::from(i)),
            Scalar::Float(f, _) => Value::Number(Number::from(f)),
            Scalar::Str(s) => Value::String(s.to_owned()),
        }
    }
}

/// Builds nothing: checks that the text is a mapping document of the
/// subset. Duplicate keys are detected through 64-bit key hashes (a
/// collision only makes the caller parse the text with `yaml_serde`).
pub(crate) struct Validator;

impl Builder for Validator {
    type Value = ();
    type Map = FxHashSet<u64>;
    fn new_map(&mut self) -> FxHashSet<u64> {
        FxHashSet::default()
    }
    fn insert(&mut self, map: &mut FxHashSet<u64>, key: &str, (): ()) -> bool {
        // FNV-1a; a set, so that 300k keys are not a quadratic search.
        let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        map.insert(hash)
    }
    fn map(&mut self, _: FxHashSet<u64>) {}
    fn seq(&mut self, _: Vec<()>) {}
    fn scalar(&mut self, _: Scalar<'_>) {}
}

/// Another builder with the checks of [`Validator`] (characters, depth,
/// duplicate keys): it builds or writes from a text nobody has accepted
/// yet, so that one parse both validates a document and turns it into
/// output (`filter::one_pass`).
pub(crate) struct Checked<B>(pub(crate) B);

impl<B: Builder<Map = ()>> Builder for Checked<B> {
    type Value = B::Value;
    type Map = FxHashSet<u64>;
    fn new_map(&mut self) -> FxHashSet<u64> {
        self.0.new_map();
        FxHashSet::default()
    }
    fn insert(&mut self, map: &mut FxHashSet<u64>, key: &str, value: B::Value) -> bool {
        Validator.insert(map, key, ()) && self.0.insert(&mut (), key, value)
    }
    fn map(&mut self, _: FxHashSet<u64>) -> B::Value {
        self.0.map(())
    }
    fn seq(&mut self, items: Vec<B::Value>) -> B::Value {
        self.0.seq(items)
    }
    fn scalar(&mut self, scalar: Scalar<'_>) -> B::Value {
        self.0.scalar(scalar)
    }
    fn keep(&self, key: &str) -> bool {
        self.0.keep(key)
    }
    fn key(&mut self, key: &str) {
        self.0.key(key);
    }
    fn begin_seq(&mut self) {
        self.0.begin_seq();
    }
    fn validated(&self) -> bool {
        false
    }
}

/// Parse a document (optionally starting with a bare `---` line) whose top
/// level is a block mapping into `yaml_serde` values; `None` when the text
/// is outside the subset.
pub(crate) fn parse_mapping(text: &str) -> Option<Mapping> {
    parse_with(text, &mut YamlBuilder::default())
}

/// Like [`parse_mapping`], building only the values of the top-level keys
/// in `keys` (the rest of the document is still validated).
pub(crate) fn parse_mapping_keys(text: &str, keys: &[String]) -> Option<Mapping> {
    let mut map = parse_with(text, &mut YamlBuilder { only: Some(keys) })?;
    // Such mappings are kept by the thousand (`filter --group-by`).
    map.shrink_to_fit();
    Some(map)
}

/// Whether `text` is a mapping document of the subset (no values built).
pub(crate) fn is_plain_mapping(text: &str) -> bool {
    let plain = parse_with(text, &mut Validator).is_some();
    // Debug builds check every accepted document against `yaml_serde`.
    #[cfg(debug_assertions)]
    if plain {
        assert_agrees(text, parse_mapping(text).as_ref());
    }
    plain
}

/// The cross-check of this reader: `fast`, what it read from `text`, is
/// what `yaml_serde` reads. Debug builds run it on every document they
/// read (here and in `stream.rs`); a property test runs it in release.
#[cfg(any(test, debug_assertions))]
#[track_caller]
pub(crate) fn assert_agrees(text: &str, fast: Option<&Mapping>) {
    assert_eq!(
        fast.map(|map| Value::Mapping(map.clone())),
        yaml_serde::from_str::<Value>(text).ok(),
        "yaml_fast disagrees with yaml_serde on:\n{text}"
    );
}

/// Parse with any builder.
pub(crate) fn parse_with<B: Builder>(text: &str, builder: &mut B) -> Option<B::Map> {
    let mut lines = Vec::with_capacity(64);
    let mut body = text;
    if let Some(rest) = body.strip_prefix("---") {
        let (first, rest) = rest.split_once('\n').unwrap_or((rest, ""));
        if !first.trim().is_empty() {
            return None;
        }
        body = rest;
    }
    // Tabs, carriage returns, and what libyaml refuses: control characters
    // (NUL...) and other non-printable ones.
    if !builder.validated() && !is_printable(body) {
        return None;
    }
    for raw in body.split('\n') {
        let trimmed = raw.trim_start_matches(' ');
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if raw.starts_with("---") || raw.starts_with("...") || raw.starts_with(['%', '?']) {
            return None;
        }
        lines.push(Line {
            indent: raw.len() - trimmed.len(),
            text: trimmed.trim_end_matches(' '),
        });
    }
    let first = lines.first()?;
    if first.text.starts_with('-') || (!builder.validated() && too_deep(&lines)) {
        return None;
    }
    let mut at = 0;
    let map = parse_map(&lines, &mut at, first.indent, true, builder)?;
    (at == lines.len()).then_some(map)
}

/// Whether `text` has only characters libyaml reads as printable and not
/// as a line break; tabs and carriage returns are out of this subset too.
fn is_printable(text: &str) -> bool {
    let ascii_ok = !text.bytes().any(|b| (b < 0x20 && b != b'\n') || b == 0x7f);
    ascii_ok
        && (text.is_ascii()
            || text.chars().all(|c| {
                // Not NEL, U+2028 or U+2029 either: libyaml breaks lines there.
                matches!(c, '\n' | ' '..='~' | '\u{a0}'..='\u{2027}' | '\u{202a}'..='\u{d7ff}' | '\u{e000}'..='\u{fefe}' | '\u{ff00}'..='\u{fffd}' | '\u{10000}'..)
            }))
}

/// Whether the block mappings nest deeper than the limit on YAML nesting
/// (the parser below recurses once per level).
fn too_deep(lines: &[Line<'_>]) -> bool {
    let mut indents: Vec<usize> = Vec::new();
    for line in lines {
        while indents.last().is_some_and(|&top| top > line.indent) {
            indents.pop();
        }
        if indents.last().is_none_or(|&top| top < line.indent) {
            indents.push(line.indent);
            if indents.len() > MAX_DEPTH {
                return true;
            }
        }
    }
    false
}

/// `key: ...` lines at `indent`. At the top level, keys the builder does
/// not keep are only validated.
fn parse_map<B: Builder>(
    lines: &[Line<'_>],
    at: &mut usize,
    indent: usize,
    top: bool,
    b: &mut B,
) -> Option<B::Map> {
    let mut map = b.new_map();
    let mut top_keys = FxHashSet::default();
    while let Some(line) = lines.get(*at) {
        if line.indent < indent {
            break;
        }
        if line.indent > indent || line.text.starts_with("- ") || line.text == "-" {
            return None;
        }
        let (key, rest) = split_key(line.text)?;
        *at += 1;
        if top && !b.keep(key) {
            // A key left out is checked for duplicates here; a kept one by
            // the builder (a key is kept or not by its name, so a duplicate
            // of a kept key is kept too).
            if !Validator.insert(&mut top_keys, key, ()) {
                return None;
            }
            parse_value(lines, at, indent, rest, &mut Validator)?;
            continue;
        }
        b.key(key);
        let value = parse_value(lines, at, indent, rest, b)?;
        if !b.insert(&mut map, key, value) {
            return None; // duplicate key: yaml_serde reports it
        }
    }
    Some(map)
}

/// The value of a `key:` line: `rest` after the colon, or the block below.
fn parse_value<B: Builder>(
    lines: &[Line<'_>],
    at: &mut usize,
    indent: usize,
    rest: Option<&str>,
    b: &mut B,
) -> Option<B::Value> {
    Some(match rest {
        Some(value) => scalar_or_flow(value, b)?,
        None => match lines.get(*at) {
            Some(next) if next.indent > indent => {
                if is_item(next.text) {
                    b.begin_seq();
                    let items = parse_seq(lines, at, next.indent, b)?;
                    b.seq(items)
                } else {
                    let inner = parse_map(lines, at, next.indent, false, b)?;
                    b.map(inner)
                }
            }
            // `key:` followed by `- item` at the same indentation.
            Some(next) if next.indent == indent && is_item(next.text) => {
                b.begin_seq();
                let items = parse_seq(lines, at, indent, b)?;
                b.seq(items)
            }
            _ => b.scalar(Scalar::Null),
        },
    })
}

fn is_item(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// `- scalar` lines at `indent`.
fn parse_seq<B: Builder>(
    lines: &[Line<'_>],
    at: &mut usize,
    indent: usize,
    b: &mut B,
) -> Option<Vec<B::Value>> {
    let mut items = Vec::new();
    while let Some(line) = lines.get(*at) {
        if line.indent != indent || !is_item(line.text) {
            if line.indent > indent {
                return None;
            }
            break;
        }
        let value = line.text.strip_prefix("- ")?.trim_start_matches(' ');
        // `- key: value` (a mapping in a sequence) is left to `yaml_serde`.
        if value.is_empty() || split_key(value).is_some() || has_colon_space(value) {
            return None;
        }
        items.push(scalar_or_flow(value, b)?);
        *at += 1;
    }
    Some(items)
}

/// `key: value` → `(key, Some(value))`, `key:` → `(key, None)`; the key
/// must be a plain word that YAML reads as a string.
fn split_key(text: &str) -> Option<(&str, Option<&str>)> {
    // A byte loop: keys are short, and `find` costs a call to `memchr`.
    let colon = text.bytes().position(|b| b == b':')?;
    let (key, rest) = (&text[..colon], &text[colon + 1..]);
    if !is_plain_key(key) {
        return None;
    }
    if rest.is_empty() {
        return Some((key, None));
    }
    let value = rest.strip_prefix(' ')?.trim_start_matches(' ');
    if value.is_empty() || value.starts_with('#') {
        return Some((key, None));
    }
    Some((key, Some(value)))
}

fn is_plain_key(key: &str) -> bool {
    // libyaml refuses a simple key longer than 1,024 characters.
    if key.len() >= MAX_KEY {
        return false;
    }
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
        && matches!(resolve_plain(key), Some(Scalar::Str(_)))
}

/// A scalar or a one-line flow collection of scalars, with an optional
/// trailing ` # comment`.
fn scalar_or_flow<B: Builder>(text: &str, b: &mut B) -> Option<B::Value> {
    match text.as_bytes()[0] {
        b'"' | b'\'' => quoted(text).map(|s| b.scalar(Scalar::Str(s))),
        b'[' => {
            let inner = strip_comment(text)?.strip_prefix('[')?.strip_suffix(']')?;
            b.begin_seq();
            if inner.trim().is_empty() {
                return Some(b.seq(Vec::new()));
            }
            let items = inner
                .split(',')
                .map(|item| flow_scalar(item.trim_matches(' ')).map(|s| b.scalar(s)))
                .collect::<Option<Vec<_>>>()?;
            Some(b.seq(items))
        }
        b'{' => {
            let inner = strip_comment(text)?.strip_prefix('{')?.strip_suffix('}')?;
            let mut map = b.new_map();
            if !inner.trim().is_empty() {
                for entry in inner.split(',') {
                    let (key, value) = entry.split_once(": ")?;
                    let key = key.trim_matches(' ');
                    if !is_plain_key(key) {
                        return None;
                    }
                    b.key(key);
                    let value = flow_scalar(value.trim_matches(' ')).map(|s| b.scalar(s))?;
                    if !b.insert(&mut map, key, value) {
                        return None;
                    }
                }
            }
            Some(b.map(map))
        }
        _ => {
            let plain = strip_comment(text)?;
            if has_colon_space(plain) || plain.ends_with(':') {
                return None;
            }
            resolve_plain(plain).map(|s| b.scalar(s))
        }
    }
}

/// Whether `text` holds `: ` (which a plain scalar cannot).
fn has_colon_space(text: &str) -> bool {
    let bytes = text.as_bytes();
    (1..bytes.len()).any(|i| bytes[i] == b' ' && bytes[i - 1] == b':')
}

/// Text before a ` #` comment, with trailing spaces removed.
fn strip_comment(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let text = match (1..bytes.len()).find(|&i| bytes[i] == b'#' && bytes[i - 1] == b' ') {
        Some(at) => &text[..at - 1],
        None => text,
    };
    let text = text.trim_end_matches(' ');
    (!text.is_empty()).then_some(text)
}

/// A scalar inside a flow collection: no nesting, quotes or indicators.
fn flow_scalar(text: &str) -> Option<Scalar<'_>> {
    if text.is_empty()
        || text
            .bytes()
            .any(|b| matches!(b, b'[' | b']' | b'{' | b'}' | b'"' | b'\'' | b':' | b'#'))
    {
        return None;
    }
    resolve_plain(text)
}

/// `"text"` without escapes or `'text'` without doubled quotes, then an
/// optional comment.
fn quoted(text: &str) -> Option<&str> {
    let quote = text.as_bytes()[0] as char;
    let rest = &text[1..];
    let end = rest.find(quote)?;
    let (inner, after) = (&rest[..end], &rest[end + 1..]);
    if inner.contains(['\\', '\n']) || (quote == '\'' && after.starts_with('\'')) {
        return None;
    }
    let trimmed = after.trim_start_matches(' ');
    // Only a comment may follow, after at least one space (`"a"#x` is not
    // a comment).
    let comment = trimmed.starts_with('#') && trimmed.len() < after.len();
    (trimmed.is_empty() || comment).then_some(inner)
}

/// Resolve a plain scalar as YAML 1.2's core schema does in `yaml_serde`:
/// null, booleans, decimal integers and floats; `None` for forms left to
/// `yaml_serde` (other number spellings, `.inf`, indicators).
fn resolve_plain(text: &str) -> Option<Scalar<'_>> {
    let bytes = text.as_bytes();
    match bytes[0] {
        b'-' | b'0'..=b'9' => return number(text),
        b'+' | b'.' | b'&' | b'*' | b'!' | b'|' | b'>' | b'%' | b'@' | b'`' | b'?' | b':'
        | b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'"' | b'\'' => return None,
        _ => {}
    }
    // Only short words starting with one of these letters can be special.
    if text.len() > 8
        || !matches!(
            bytes[0],
            b'~' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'i' | b'I'
        )
    {
        return Some(Scalar::Str(text));
    }
    match text {
        "~" | "null" | "Null" | "NULL" => return Some(Scalar::Null),
        "true" | "True" | "TRUE" => return Some(Scalar::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Scalar::Bool(false)),
        _ => {}
    }
    if ["inf", "infinity", "nan"]
        .iter()
        .any(|w| text.eq_ignore_ascii_case(w))
    {
        return None;
    }
    Some(Scalar::Str(text))
}

/// `-?(0|[1-9][0-9]*)` as an integer, with `.digits` and/or an exponent as
/// a float; anything else is left to `yaml_serde`.
fn number(text: &str) -> Option<Scalar<'_>> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let int_len = digits.bytes().take_while(u8::is_ascii_digit).count();
    if int_len == 0 || (int_len > 1 && digits.starts_with('0')) {
        return None;
    }
    let mut rest = &digits[int_len..];
    if rest.is_empty() {
        if text == "-0" {
            return None;
        }
        return text.parse::<i64>().ok().map(Scalar::Int);
    }
    if let Some(fraction) = rest.strip_prefix('.') {
        let n = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = &fraction[n..];
    }
    if let Some(exponent) = rest.strip_prefix(['e', 'E']) {
        let exponent = exponent.strip_prefix(['-', '+']).unwrap_or(exponent);
        if exponent.is_empty() || !exponent.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        rest = "";
    }
    if !rest.is_empty() {
        return None;
    }
    let f: f64 = text.parse().ok()?;
    f.is_finite().then_some(Scalar::Float(f, text))
}

#[cfg(test)]
mod tests;
