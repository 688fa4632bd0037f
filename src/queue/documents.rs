//! The queue file's text as documents: writing expanded experiments with
//! their mark, reading each document with its state, cutting one out, and
//! counting what changed between two versions.

use std::collections::HashMap;
use std::path::Path;

use yaml_serde::{Mapping, Value};

use super::api::QueueError;
use super::entry::{QueueEntry, EXPANDED_LINE};
use super::journal::Digest;
use super::pending::Pending;
use super::segments::split;
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

/// Each expanded experiment as its own marked document.
pub(crate) fn serialise_each(docs: &[Mapping]) -> Result<Vec<String>, QueueError> {
    docs.iter()
        .map(|d| serialise(std::slice::from_ref(d)))
        .collect()
}

/// Parse one document's text (`line`: where it starts in the file, 0 if it
/// is not in the file yet): `None` for a document that is null.
pub(crate) fn parse_doc(
    text: &str,
    line: usize,
    expanded: bool,
    path: &Path,
) -> Result<Option<QueueEntry>, String> {
    let docs = parse_documents(text, path).map_err(|err| match err {
        ConfigError::Yaml { location, message } => match (location.line, location.column) {
            (Some(l), Some(column)) => format!("line {}, column {column}: {message}", line + l - 1),
            (Some(l), None) => format!("line {}: {message}", line + l - 1),
            _ => format!("document at line {line}: {message}"),
        },
        other => other.to_string(),
    })?;
    match docs.into_iter().find(|d| !d.is_null()) {
        Some(Value::Mapping(map)) => Ok(Some(QueueEntry::read(map, expanded))),
        Some(_) => Err(format!(
            "line {line}: a queued experiment must be a mapping of keys to values"
        )),
        None => Ok(None),
    }
}

/// Every document of the file, each a mapping, with its state (`entry.rs`).
/// Every document of the file, each a mapping, with its state (`entry.rs`).
#[cfg(test)]
pub(crate) fn parse_all(text: &str, path: &Path) -> Result<Vec<QueueEntry>, String> {
    let mut out = Vec::new();
    for segment in split(text).into_iter().filter(|s| s.has_content) {
        let doc = &text[segment.start..segment.end];
        if let Some(entry) = parse_doc(doc, segment.line, segment.expanded, path)? {
            out.push(entry);
        }
    }
    Ok(out)
}

/// One document's entry (`None` if it does not parse or is null).
pub(crate) fn entry_of(text: &str) -> Option<QueueEntry> {
    let expanded = split(text).first().is_some_and(|s| s.expanded);
    parse_doc(text, 1, expanded, Path::new("")).ok().flatten()
}

/// (added, removed, changed, reordered) from `old` to `new`, as multisets:
/// documents of the same text match, then documents of the same keys and
/// state (only those are parsed). Removing the mark of a document counts
/// as a change.
pub(crate) fn diff(old: &Pending, new: &Pending) -> (usize, usize, usize, bool) {
    let mut counts: HashMap<Digest, isize> = HashMap::new();
    for (_, _, d) in old.iter() {
        *counts.entry(d).or_default() += 1;
    }
    for (_, _, d) in new.iter() {
        *counts.entry(d).or_default() -= 1;
    }
    let unmatched = |pending: &Pending, sign: isize| {
        let mut left = counts.clone();
        let mut out = Vec::new();
        for (text, _, d) in pending.iter() {
            let c = left.get_mut(&d).expect("counted");
            if *c * sign > 0 {
                *c -= sign;
                out.push((d, entry_of(text)));
            }
        }
        out
    };
    let gone = unmatched(old, 1);
    let mut came = unmatched(new, -1);
    let mut alias: HashMap<Digest, Digest> = HashMap::new();
    let mut removed = 0;
    for (d, entry) in &gone {
        match came.iter().position(|(_, e)| e.is_some() && e == entry) {
            Some(at) => {
                alias.insert(came.swap_remove(at).0, *d);
            }
            None => removed += 1,
        }
    }
    let added = came.len();
    if added + removed > 0 {
        let changed = added.min(removed);
        return (added - changed, removed - changed, changed, false);
    }
    let old_order = old.iter().map(|(_, _, d)| d);
    let new_order = new.iter().map(|(_, _, d)| *alias.get(&d).unwrap_or(&d));
    (0, 0, 0, !old_order.eq(new_order))
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
        let edited = format!("---\nName: a\nREP: 5\nl: [1, {{x: 2}}]\n{text}");
        let entries = parse_all(&edited, path).unwrap();
        assert_eq!(entries[0], QueueEntry::Raw(docs[0].clone()));
        assert_eq!(entries[1], expected[0]);
    }

    #[test]
    fn diff_counts_multisets() {
        let p = |s: &str| Pending::new(s.to_owned());
        assert_eq!(diff(&p("a: 1"), &p("a: 2")), (0, 0, 1, false));
        assert_eq!(
            diff(&p("---\na: 1\n"), &p("---\na: 1\n---\na: 1\n")),
            (1, 0, 0, false)
        );
        let marked = "--- # expanded by cool-runner\na: 1\n";
        assert_eq!(diff(&p(marked), &p("---\na: 1\n")), (0, 0, 1, false));
        // Same keys in another text: not a change; in another order: reordered.
        let two = "---\na: 1\n---\nb: 2\n";
        assert_eq!(
            diff(&p(two), &p("---\nb: 2\n---\na:   1\n")),
            (0, 0, 0, true)
        );
        assert_eq!(
            diff(&p(two), &p("---\na:  1\n---\nb: 2\n")),
            (0, 0, 0, false)
        );
    }
}
