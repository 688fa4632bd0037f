//! Reading multi-document YAML logs fast: split the text into documents at
//! their `---` markers, then parse each piece on its own.
//!
//! `collect` and `filter` handle a hundred thousand documents, so they split
//! first and parse the pieces on several threads, and they copy a piece's
//! text to their output instead of serialising the parsed value again.
//!
//! Pieces in the plain subset of YAML that logs use are parsed by
//! `yaml_fast`, the rest by `yaml_serde`.
//!
//! Splitting is exact for ordinary YAML: a line that starts with `---`
//! followed by a space, a tab or the end of the line is a document marker
//! wherever it appears (YAML forbids it inside scalars and flow collections).
//! Streams the splitter cannot take apart (directives such as `%YAML`, a
//! piece that parses into several documents) make a piece fail to parse
//! alone; callers then parse the whole file the slow, authoritative way with
//! [`parse_file`], which also gives the error position in the file.

use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;
use yaml_serde::Value;

use crate::config::ConfigError;
use crate::yaml::fast as yaml_fast;
use crate::yaml::limits::check_depth;
use crate::yaml::read::parse_documents;

/// The text of one document and where it starts in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Piece<'a> {
    /// The document's lines, its `---` line included when it has one.
    pub text: &'a str,
    /// 1-based line of the piece's first line in the file.
    pub line: usize,
    /// Whether `text` starts with a `---` marker line.
    pub has_marker: bool,
}

impl Piece<'_> {
    /// Whether the piece holds only blank lines and comments (text before
    /// the first `---`, for example).
    pub(crate) fn is_blank(&self) -> bool {
        self.text
            .lines()
            .map(str::trim)
            .all(|l| l.is_empty() || l.starts_with('#'))
    }

    /// Append the piece to `out` as a `---`-prefixed document ending in a
    /// newline, as `yaml_out` writes documents.
    pub(crate) fn write_document(&self, out: &mut Vec<u8>) {
        if !self.has_marker {
            out.extend_from_slice(b"---\n");
        }
        out.extend_from_slice(self.text.as_bytes());
        if !self.text.ends_with('\n') {
            out.push(b'\n');
        }
    }
}

fn is_marker(line: &str) -> bool {
    line.strip_prefix("---")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n']))
}

/// Split a YAML stream into document pieces. Blank pieces (only comments)
/// are dropped. A leading byte-order mark is skipped.
pub(crate) fn split(text: &str) -> Vec<Piece<'_>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Room for a document every 128 bytes: only the part used is ever
    // touched (growing by doubling had the kernel zero each larger copy).
    let mut pieces = Vec::with_capacity(text.len() / 128 + 1);
    let mut start = 0;
    let mut start_line = 1;
    // Searching for `\n---` skips whole documents at a time (this runs on
    // one core before the pieces are parsed on all of them).
    for (newline, _) in text.match_indices("\n---") {
        let at = newline + 1;
        if !is_marker(&text[at..]) {
            continue;
        }
        pieces.push(piece(&text[start..at], start_line));
        start_line += bytecount_newlines(&text[start..at]);
        start = at;
    }
    if start < text.len() {
        pieces.push(piece(&text[start..], start_line));
    }
    pieces.retain(|p| !p.is_blank());
    pieces
}

fn bytecount_newlines(text: &str) -> usize {
    text.bytes().filter(|&b| b == b'\n').count()
}

fn piece(text: &str, line: usize) -> Piece<'_> {
    Piece {
        text,
        line,
        has_marker: is_marker(text),
    }
}

/// A piece that is not exactly one valid document: parse the whole file
/// with [`parse_file`] to know why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotOneDocument;

/// Parse one piece on its own: a lone `---` is a null document; `Ok(None)`
/// when the text holds no document at all.
pub(crate) fn parse_piece(piece: &Piece<'_>) -> Result<Option<Value>, NotOneDocument> {
    // Too deep for the parsers: `parse_file` says where.
    check_depth(piece.text).map_err(|_| NotOneDocument)?;
    if let Some(map) = yaml_fast::parse_mapping(piece.text) {
        // Debug builds check the fast parser against `yaml_serde` on every
        // document they read (a property test in `fast.rs` in every build).
        #[cfg(debug_assertions)]
        yaml_fast::assert_agrees(piece.text, Some(&map));
        return Ok(Some(Value::Mapping(map)));
    }
    let mut docs = yaml_serde::Deserializer::from_str(piece.text);
    let Some(first) = docs.next() else {
        return Ok(None);
    };
    let mut value = Value::deserialize(first).map_err(|_| NotOneDocument)?;
    // A second document (or an error after the first) means the splitter
    // did not see a boundary; stop at once, the iterator may never end.
    if docs.next().is_some() {
        return Err(NotOneDocument);
    }
    value.apply_merge().map_err(|_| NotOneDocument)?;
    Ok(Some(value))
}

/// Parse a whole file the authoritative way: every document, in order, or
/// the first error with its position in the file:
/// `invalid YAML at logs.yaml:5:4: did not find expected ',' or ']'`.
pub(crate) fn parse_file(text: &str, path: &Path) -> Result<Vec<Value>, String> {
    parse_documents(text, path).map_err(|err| match err {
        ConfigError::Yaml { location, message } => {
            let mut at = location.path.display().to_string();
            for n in [location.line, location.column].into_iter().flatten() {
                let _ = write!(at, ":{n}");
            }
            format!("invalid YAML at {at}: {message}")
        }
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Vec<(&str, usize)> {
        split(text).iter().map(|p| (p.text, p.line)).collect()
    }

    #[test]
    fn splits_at_markers_only() {
        let text = "# head\n---\na: 1\ns: |\n  --- not a marker\n---x: 2\n--- \nb: 2\n---\n";
        assert_eq!(
            texts(text),
            [
                ("---\na: 1\ns: |\n  --- not a marker\n---x: 2\n", 2),
                ("--- \nb: 2\n", 7),
                ("---\n", 9),
            ]
        );
    }

    #[test]
    fn document_without_marker_gets_one_when_written() {
        let pieces = split("\u{feff}a: 1");
        assert_eq!(pieces.len(), 1);
        let mut out = Vec::new();
        pieces[0].write_document(&mut out);
        assert_eq!(out, b"---\na: 1\n");
    }

    #[test]
    fn pieces_parse_alone() {
        let pieces = split("---\na: &x {p: 1}\nb: {<<: *x, q: 2}\n---\n---\n- 1\n");
        let parsed: Vec<_> = pieces.iter().map(parse_piece).collect();
        assert_eq!(parsed.len(), 3);
        let first = parsed[0].clone().unwrap().unwrap();
        assert_eq!(first["b"]["p"], Value::from(1));
        assert_eq!(parsed[1], Ok(Some(Value::Null)));
        assert!(parsed[2].clone().unwrap().unwrap().is_sequence());
    }

    #[test]
    fn broken_or_ambiguous_pieces_fail() {
        assert!(parse_piece(&split("a: [1, 2\nb: 3\n")[0]).is_err());
        // A document end marker followed by a bare document: two documents.
        assert!(parse_piece(&split("a: 1\n...\nb: 2\n")[0]).is_err());
    }
}
