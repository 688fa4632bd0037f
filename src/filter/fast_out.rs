//! `filter`'s JSON, CSV and table output written straight from a kept
//! document's text by the fast reader (`yaml::fast`), without building a
//! `yaml_serde` value or a `serde_json` value in between: the reader's
//! events (a key, a scalar, the start and end of a collection) are turned
//! into output bytes as they come.
//!
//! Only for texts the fast reader has already accepted whole during the
//! selection (a kept record without a parsed value): duplicate keys are
//! therefore not checked again. Every function returns `false` (or `None`)
//! when the text is outside the subset after all, and the caller then
//! takes the slow path; the output equals the slow path's byte for byte
//! (property tests below, and a check on every document in debug builds).

use indexmap::IndexMap;
use rustc_hash::{FxBuildHasher, FxHashMap};

use super::format::Cell;
use crate::yaml::fast::{parse_with, Builder, Checked, Scalar};

/// Append `text` as a JSON object (as `serde_json` writes the value
/// `format::mapping_to_json` makes of it); `false`, with `out` as it was,
/// outside the subset.
pub(crate) fn json(text: &str, out: &mut Vec<u8>) -> bool {
    object(text, out, false)
}

/// Like [`json`], for a text not accepted before: the one parse also
/// checks it as `yaml::fast::is_plain_mapping` does.
pub(crate) fn json_checked(text: &str, out: &mut Vec<u8>) -> bool {
    object(text, out, true)
}

fn object(text: &str, out: &mut Vec<u8>, check: bool) -> bool {
    let start = out.len();
    let mut writer = Json {
        out: &mut *out,
        stack: Vec::with_capacity(8),
    };
    let parsed = if check {
        parse_with(text, &mut Checked(writer)).is_some()
    } else {
        parse_with(text, &mut writer).is_some()
    };
    if !parsed {
        out.truncate(start);
        return false;
    }
    out.push(b'}');
    true
}

/// An open collection: a sequence or a mapping, and whether it has no
/// item yet.
#[derive(Clone, Copy)]
struct Open {
    seq: bool,
    first: bool,
}

struct Json<'o> {
    out: &'o mut Vec<u8>,
    stack: Vec<Open>,
}

impl Json<'_> {
    /// A comma before a sequence's items after the first (a mapping's
    /// comma comes with its key).
    fn item(&mut self) {
        if let Some(open) = self.stack.last_mut() {
            if open.seq {
                if !open.first {
                    self.out.push(b',');
                }
                open.first = false;
            }
        }
    }
}

/// A string as `serde_json` writes it: only `"`, `\` and control
/// characters are escaped.
fn json_string(out: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        // Rare in logs: let `serde_json` escape it (writing to a `Vec`
        // cannot fail).
        let _ = serde_json::to_writer(&mut *out, s);
    } else {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

impl Builder for Json<'_> {
    type Value = ();
    type Map = ();
    fn new_map(&mut self) {
        self.item();
        self.out.push(b'{');
        self.stack.push(Open {
            seq: false,
            first: true,
        });
    }
    fn key(&mut self, key: &str) {
        if let Some(open) = self.stack.last_mut() {
            if !open.first {
                self.out.push(b',');
            }
            open.first = false;
        }
        json_string(self.out, key);
        self.out.push(b':');
    }
    fn insert(&mut self, (): &mut (), _: &str, (): ()) -> bool {
        true
    }
    fn validated(&self) -> bool {
        true
    }
    fn map(&mut self, (): ()) {
        self.stack.pop();
        self.out.push(b'}');
    }
    fn begin_seq(&mut self) {
        self.item();
        self.out.push(b'[');
        self.stack.push(Open {
            seq: true,
            first: true,
        });
    }
    fn seq(&mut self, _: Vec<()>) {
        self.stack.pop();
        self.out.push(b']');
    }
    fn scalar(&mut self, scalar: Scalar<'_>) {
        self.item();
        match scalar {
            Scalar::Null => self.out.extend_from_slice(b"null"),
            Scalar::Bool(b) => self
                .out
                .extend_from_slice(if b { b"true" } else { b"false" }),
            Scalar::Int(i) => self
                .out
                .extend_from_slice(itoa::Buffer::new().format(i).as_bytes()),
            // As `serde_json` writes it (`1e+280`, where `ryu` and YAML
            // write `1e280`); writing to a `Vec` cannot fail.
            Scalar::Float(f, _) => {
                let _ = serde_json::to_writer(&mut *self.out, &f);
            }
            Scalar::Str(s) => json_string(self.out, s),
        }
    }
}

/// What a flattened cell holds (`format::flatten` + `format::inline`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// No such key in the document.
    Missing,
    Null,
    Number,
    Other,
}

/// One document's cells under known columns, reused from row to row.
pub(crate) struct Row {
    at: FxHashMap<String, usize>,
    /// Whether a null leaves a value already in its cell alone (CSV: when
    /// two keys flatten to one name, `a.b: 1` and `a: {b: null}`, the
    /// value stays; a table shows the last).
    nulls_keep: bool,
    pub(crate) texts: Vec<String>,
    pub(crate) kinds: Vec<Kind>,
}

impl Row {
    pub(crate) fn new(columns: &[String], nulls_keep: bool) -> Self {
        Self {
            nulls_keep,
            at: columns
                .iter()
                .enumerate()
                .map(|(i, c)| (c.clone(), i))
                .collect(),
            texts: vec![String::new(); columns.len()],
            kinds: vec![Kind::Missing; columns.len()],
        }
    }

    /// Set the cell of column `name`, if it is one of the row's.
    pub(crate) fn set(&mut self, name: &str, kind: Kind, text: &mut String) {
        if let Some(&i) = self.at.get(name) {
            if kind == Kind::Null && self.nulls_keep && self.kinds[i] != Kind::Missing {
                return;
            }
            std::mem::swap(&mut self.texts[i], text);
            self.kinds[i] = kind;
        }
    }

    /// The text of the cell in column `i`, if the document has that key.
    pub(crate) fn cell(&self, i: usize) -> Option<(&str, bool)> {
        (self.kinds[i] != Kind::Missing)
            .then(|| (self.texts[i].as_str(), self.kinds[i] == Kind::Number))
    }

    /// The row as table cells.
    pub(crate) fn cells(&self) -> Vec<Option<Cell>> {
        self.texts
            .iter()
            .zip(&self.kinds)
            .map(|(text, kind)| {
                (*kind != Kind::Missing).then(|| Cell {
                    text: text.clone(),
                    numeric: *kind == Kind::Number,
                })
            })
            .collect()
    }

    /// Fill the row from `text`; `false` (the row then holds garbage)
    /// outside the subset.
    pub(crate) fn fill(&mut self, text: &str) -> bool {
        self.kinds.fill(Kind::Missing);
        let mut flat = Flat::new(self);
        parse_with(text, &mut flat).is_some()
    }
}

/// Where a document's flattened cells go, in document order.
pub(crate) trait Cells {
    /// The cell of column `name` (`a.b`); may take `text`.
    fn set(&mut self, name: &str, kind: Kind, text: &mut String);
}

impl Cells for Row {
    fn set(&mut self, name: &str, kind: Kind, text: &mut String) {
        Row::set(self, name, kind, text);
    }
}

/// Hand the flattened cells of `text`, a document nobody has accepted yet,
/// to `cells`, checking it as `yaml::fast::is_plain_mapping` does; `false`
/// outside the subset (`cells` may then have had some).
pub(crate) fn flatten_checked(text: &str, cells: &mut impl Cells) -> bool {
    parse_with(text, &mut Checked(Flat::new(cells))).is_some()
}

/// Column names, as `format::flatten` names them (`a`, `b.c`), in the
/// order first seen.
pub(crate) type Names = IndexMap<String, (), FxBuildHasher>;

/// Add the flattened column names of `text`, a document the fast reader
/// accepted whole, to `names`, in document order.
///
/// A scan of its lines for keys, which resolves no value: a key with a
/// value on its line is a column (a flow mapping `{a: 1}` gives a column
/// per key inside, `{}` one), a `key:` line followed by deeper `key:`
/// lines opens a mapping (no column), any other `key:` line is a column
/// (a null or a list below it); `- item` lines belong to their list.
/// Equal to the names `format::flatten` gives the parsed value (a
/// property test below), at a fraction of the cost of parsing it.
pub(crate) fn columns(text: &str, names: &mut Names) {
    let body = match text.strip_prefix("---") {
        Some(rest) => rest.split_once('\n').map_or("", |(_, rest)| rest),
        None => text,
    };
    let mut lines = body.split('\n').filter_map(|raw| {
        let trimmed = raw.trim_start_matches(' ');
        (!trimmed.is_empty() && !trimmed.starts_with('#'))
            .then(|| (raw.len() - trimmed.len(), trimmed.trim_end_matches(' ')))
    });
    let mut path = String::new();
    // Open mappings: the indentation of their key, and the length of the
    // path before it.
    let mut open: Vec<(usize, usize)> = Vec::new();
    let mut next = lines.next();
    while let Some((indent, line)) = next {
        next = lines.next();
        if line == "-" || line.starts_with("- ") {
            continue;
        }
        while open.last().is_some_and(|&(at, _)| at >= indent) {
            if let Some((_, len)) = open.pop() {
                path.truncate(len);
            }
        }
        let Some(colon) = line.bytes().position(|b| b == b':') else {
            continue;
        };
        let before = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(&line[..colon]);
        let value = line[colon + 1..].trim_start_matches(' ');
        if value.is_empty() || value.starts_with('#') {
            let opens = next.is_some_and(|(deeper, text)| {
                deeper > indent && !(text == "-" || text.starts_with("- "))
            });
            if opens {
                open.push((indent, before));
                continue;
            }
            add(names, &path);
        } else if let Some(flow) = value.strip_prefix('{') {
            let inner = flow.split_once('}').map_or(flow, |(inner, _)| inner);
            if inner.trim_matches(' ').is_empty() {
                add(names, &path);
            } else {
                let at = path.len();
                for entry in inner.split(',') {
                    let key = entry.split_once(':').map_or(entry, |(key, _)| key);
                    path.push('.');
                    path.push_str(key.trim_matches(' '));
                    add(names, &path);
                    path.truncate(at);
                }
            }
        } else {
            add(names, &path);
        }
        path.truncate(before);
    }
}

fn add(names: &mut Names, name: &str) {
    if !names.contains_key(name) {
        names.insert(name.to_owned(), ());
    }
}

/// An open collection while flattening: a mapping whose keys are columns
/// (`entries`: how many so far), or one written inline (a sequence, and
/// anything inside one).
#[derive(Clone, Copy)]
enum Frame {
    Flat { entries: usize },
    Inline { seq: bool, first: bool },
}

/// Flattens as `format::flatten` does: non-empty mappings become `a.b`
/// columns, anything else is a cell written as `format::inline` writes it.
struct Flat<'a, C: ?Sized> {
    row: &'a mut C,
    /// The column of the current key (`a.b`), and where each level starts.
    path: String,
    marks: Vec<usize>,
    stack: Vec<Frame>,
    /// Open inline collections.
    inline: usize,
    /// The current cell's text.
    text: String,
}

impl<'a, C: Cells + ?Sized> Flat<'a, C> {
    fn new(row: &'a mut C) -> Self {
        Self {
            row,
            path: String::new(),
            marks: Vec::with_capacity(8),
            stack: Vec::with_capacity(8),
            inline: 0,
            text: String::new(),
        }
    }

    /// Before an inline item: `, ` after a sequence's first.
    fn item(&mut self) {
        if let Some(Frame::Inline { seq: true, first }) = self.stack.last_mut() {
            if !*first {
                self.text.push_str(", ");
            }
            *first = false;
        }
    }

    fn emit(&mut self, kind: Kind) {
        self.row.set(&self.path, kind, &mut self.text);
    }
}

impl<C: Cells + ?Sized> Builder for Flat<'_, C> {
    /// `None`: a non-empty mapping, flattened into columns; else a cell.
    type Value = Option<Kind>;
    type Map = ();
    fn new_map(&mut self) {
        if self.inline > 0 {
            self.item();
            self.text.push('{');
            self.stack.push(Frame::Inline {
                seq: false,
                first: true,
            });
            self.inline += 1;
        } else {
            self.stack.push(Frame::Flat { entries: 0 });
        }
    }
    fn key(&mut self, key: &str) {
        if self.inline > 0 {
            if let Some(Frame::Inline { first, .. }) = self.stack.last_mut() {
                if !*first {
                    self.text.push_str(", ");
                }
                *first = false;
            }
            self.text.push_str(key);
            self.text.push_str(": ");
        } else {
            self.marks.push(self.path.len());
            if !self.path.is_empty() {
                self.path.push('.');
            }
            self.path.push_str(key);
        }
    }
    fn validated(&self) -> bool {
        true
    }
    fn insert(&mut self, (): &mut (), _: &str, value: Option<Kind>) -> bool {
        if self.inline > 0 {
            return true;
        }
        if let Some(Frame::Flat { entries }) = self.stack.last_mut() {
            *entries += 1;
        }
        if let Some(kind) = value {
            self.emit(kind);
        }
        let mark = self.marks.pop().unwrap_or(0);
        self.path.truncate(mark);
        true
    }
    fn map(&mut self, (): ()) -> Option<Kind> {
        match self.stack.pop() {
            Some(Frame::Inline { .. }) => {
                self.text.push('}');
                self.inline -= 1;
                Some(Kind::Other)
            }
            Some(Frame::Flat { entries }) if entries > 0 => None,
            _ => {
                self.text.clear();
                self.text.push_str("{}");
                Some(Kind::Other)
            }
        }
    }
    fn begin_seq(&mut self) {
        if self.inline > 0 {
            self.item();
        } else {
            self.text.clear();
        }
        self.text.push('[');
        self.stack.push(Frame::Inline {
            seq: true,
            first: true,
        });
        self.inline += 1;
    }
    fn seq(&mut self, _: Vec<Option<Kind>>) -> Option<Kind> {
        self.stack.pop();
        self.text.push(']');
        self.inline -= 1;
        Some(Kind::Other)
    }
    fn scalar(&mut self, scalar: Scalar<'_>) -> Option<Kind> {
        if self.inline > 0 {
            self.item();
        } else {
            self.text.clear();
        }
        let kind = match scalar {
            Scalar::Null => Kind::Null,
            Scalar::Int(_) | Scalar::Float(..) => Kind::Number,
            Scalar::Bool(_) | Scalar::Str(_) => Kind::Other,
        };
        inline_scalar(&mut self.text, scalar);
        Some(kind)
    }
}

/// A scalar as `format::inline` writes it.
fn inline_scalar(out: &mut String, scalar: Scalar<'_>) {
    match scalar {
        Scalar::Null => out.push_str("null"),
        Scalar::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        Scalar::Int(i) => out.push_str(itoa::Buffer::new().format(i)),
        // As written when `ryu` would write it so (most floats in logs).
        Scalar::Float(_, text) if is_shortest(text) => out.push_str(text),
        Scalar::Float(f, _) => out.push_str(ryu::Buffer::new().format_finite(f)),
        Scalar::Str(s) => out.push_str(s),
    }
}

/// Whether `ryu` writes the float read from `text` (a number of the fast
/// reader's grammar, `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?`)
/// as `text` itself: in positional notation with a fraction, no trailing
/// zero after the first fraction digit, at most 15 significant digits
/// (so that the shortest text that reads back as the same float has the
/// same digits: every decimal of 15 digits or fewer reads back as itself),
/// at most 16 digits before the point and at most 4 zeros after it before
/// the first significant digit (where `ryu` switches to `1e-6`). Saves
/// formatting every float of a CSV or a table again (a property test in
/// `tests.rs` checks it against `ryu`).
fn is_shortest(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let Some((int, fraction)) = digits.split_once('.') else {
        return false;
    };
    if fraction.is_empty()
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || (fraction.len() > 1 && fraction.ends_with('0'))
        || int.len() > 16
    {
        return false;
    }
    let significant = if int == "0" {
        let zeros = fraction.bytes().take_while(|&b| b == b'0').count();
        if zeros > 4 && zeros < fraction.len() {
            return false;
        }
        fraction.len() - zeros
    } else {
        int.len() + fraction.len()
    };
    significant <= 15
}

#[cfg(test)]
mod tests;
