//! The queue file's text as documents: writing expanded experiments with
//! their mark, reading each document with its state, cutting one out, and
//! counting what changed between two versions.

use std::collections::HashMap;
use std::path::Path;

use yaml_serde::{Mapping, Value};

use super::api::QueueError;
use super::entry::{QueueEntry, EXPANDED_LINE};
use super::segments::{split, Segment};
use crate::config::ConfigError;
use crate::yaml::read::parse_documents;
use crate::yaml::write::document_bytes;

/// Expanded experiments as a YAML stream, each starting with the marked
/// `---` line of an expanded document.
pub(crate) fn serialise(docs: &[Mapping]) -> Result<String, QueueError> {
    let mut out = String::new();
    for doc in docs {
        let bytes = document_bytes(doc)?;
        // `document_bytes` starts every document with a plain `---` line.
        let body = bytes.strip_prefix(b"---\n").unwrap_or(&bytes);
        out.push_str(EXPANDED_LINE);
        out.push_str(&String::from_utf8_lossy(body));
    }
    Ok(out)
}

/// `text` with the document `remove` cut out and `insert`
/// put in its place (or before the first document when nothing is cut).
pub(crate) fn apply(text: &str, remove: Option<&QueueEntry>, insert: &str, path: &Path) -> String {
    let segments = split(text);
    let content: Vec<&Segment> = segments.iter().filter(|s| s.has_content).collect();
    // The first document with the same keys and state; failing that (a
    // person removed or added the mark meanwhile), the same keys.
    let target = remove.and_then(|entry| {
        let same = |s: &&Segment| {
            parse_segment(text, s, path)
                .is_ok_and(|v| v.as_ref().and_then(Value::as_mapping) == Some(entry.mapping()))
        };
        let found = content
            .iter()
            .copied()
            .find(|s| s.expanded == entry.is_expanded() && same(s));
        found.or_else(|| content.iter().copied().find(same))
    });
    let mut out = String::with_capacity(text.len() + insert.len() + 8);
    match (target, content.first()) {
        (Some(cut), _) => {
            // What follows a cut is comments, then a `---` line.
            out.push_str(&text[..cut.start]);
            out.push_str(insert);
            out.push_str(&text[cut.end..]);
        }
        (None, Some(head)) => {
            out.push_str(&text[..head.start]);
            out.push_str(insert);
            if !head.has_marker && !insert.is_empty() {
                // The head has no `---` line: keep it a document of its own.
                out.push_str("---\n");
            }
            out.push_str(&text[head.start..]);
        }
        (None, None) => {
            out.push_str(text);
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(insert);
        }
    }
    out
}

/// Parse one segment: `None` for a document that is null.
fn parse_segment(text: &str, segment: &Segment, path: &Path) -> Result<Option<Value>, String> {
    let docs =
        parse_documents(&text[segment.start..segment.end], path).map_err(|err| match err {
            ConfigError::Yaml { location, message } => match (location.line, location.column) {
                (Some(line), Some(column)) => format!(
                    "line {}, column {column}: {message}",
                    segment.line + line - 1
                ),
                (Some(line), None) => format!("line {}: {message}", segment.line + line - 1),
                _ => format!("document at line {}: {message}", segment.line),
            },
            other => other.to_string(),
        })?;
    Ok(docs.into_iter().find(|d| !d.is_null()))
}

/// Every document of the file, each a mapping, with its state (`entry.rs`).
pub(crate) fn parse_all(text: &str, path: &Path) -> Result<Vec<QueueEntry>, String> {
    let mut out = Vec::new();
    for segment in split(text).into_iter().filter(|s| s.has_content) {
        match parse_segment(text, &segment, path)? {
            Some(Value::Mapping(map)) => out.push(QueueEntry::read(map, segment.expanded)),
            Some(_) => {
                return Err(format!(
                    "line {}: a queued experiment must be a mapping of keys to values",
                    segment.line
                ))
            }
            None => {}
        }
    }
    Ok(out)
}

/// (added, removed, changed, reordered) from `old` to `new`, as multisets.
/// Removing the mark of a document counts as a change.
pub(crate) fn diff(old: &[QueueEntry], new: &[QueueEntry]) -> (usize, usize, usize, bool) {
    let mut counts: HashMap<&QueueEntry, isize> = HashMap::new();
    for v in old {
        *counts.entry(v).or_default() += 1;
    }
    for v in new {
        *counts.entry(v).or_default() -= 1;
    }
    let removed: usize = counts
        .values()
        .filter(|&&c| c > 0)
        .map(|&c| c as usize)
        .sum();
    let added: usize = counts
        .values()
        .filter(|&&c| c < 0)
        .map(|&c| (-c) as usize)
        .sum();
    let changed = added.min(removed);
    let reordered = added == 0 && removed == 0 && old != new;
    (added - changed, removed - changed, changed, reordered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Mapping {
        yaml_serde::from_str(text).unwrap()
    }

    /// What the runner writes reads back as the same expanded entries, and
    /// every YAML reader sees the same mappings (the mark is a comment).
    #[test]
    fn the_expanded_mark_round_trips() {
        let docs = [doc("Name: a\nREP: 5\nl: [1, {x: 2}]"), doc("{}")];
        let text = serialise(&docs).unwrap();
        assert!(
            text.starts_with("--- # expanded by cool-runner\nName: a\n"),
            "{text}"
        );
        let path = Path::new("q.yaml");
        let entries = parse_all(&text, path).unwrap();
        let expected: Vec<QueueEntry> = docs.iter().cloned().map(QueueEntry::Expanded).collect();
        assert_eq!(entries, expected);
        let plain: Vec<Value> = parse_documents(&text, path).unwrap();
        let plain_expected: Vec<Value> = docs.iter().cloned().map(Value::Mapping).collect();
        assert_eq!(plain, plain_expected);
        // A person's document next to them stays raw, and cutting an
        // expanded entry leaves an equal raw one alone.
        let edited = format!("---\nName: a\nREP: 5\nl: [1, {{x: 2}}]\n{text}");
        let entries = parse_all(&edited, path).unwrap();
        assert_eq!(entries[0], QueueEntry::Raw(docs[0].clone()));
        assert_eq!(entries[1], expected[0]);
        let cut = apply(&edited, Some(&expected[0]), "", path);
        assert_eq!(
            parse_all(&cut, path).unwrap(),
            [entries[0].clone(), expected[1].clone()]
        );
    }

    #[test]
    fn diff_counts_multisets() {
        let v = |s: &str| QueueEntry::Raw(doc(s));
        assert_eq!(diff(&[v("a: 1")], &[v("a: 2")]), (0, 0, 1, false));
        assert_eq!(
            diff(&[v("a: 1")], &[v("a: 1"), v("a: 1")]),
            (1, 0, 0, false)
        );
        let marked = QueueEntry::Expanded(doc("a: 1"));
        assert_eq!(diff(&[marked], &[v("a: 1")]), (0, 0, 1, false));
    }
}
