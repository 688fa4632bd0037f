//! Reading experiment files: multi-document YAML, merge keys, positions.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use yaml_serde::{Mapping, Value};

use super::error::{ConfigError, Location};

/// The text of a YAML file, kept to point errors at lines.
#[derive(Debug, Clone)]
pub struct SourceText {
    pub path: PathBuf,
    pub text: String,
    /// First line (1-based) of each document.
    doc_starts: Vec<usize>,
}

/// A loaded experiment file: the default config (with `Global`) and the
/// experiment documents, in file order.
#[derive(Debug, Clone)]
pub struct ExperimentFile {
    pub source: SourceText,
    pub defaults: Mapping,
    pub experiments: Vec<Mapping>,
}

/// Read and parse `path`.
pub fn load_file(path: &Path) -> Result<ExperimentFile, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_text(path, text)
}

/// Parse the text of an experiment file (`path` is used in messages).
pub fn parse_text(path: &Path, text: String) -> Result<ExperimentFile, ConfigError> {
    let source = SourceText::new(path.to_owned(), text);
    let docs = parse_documents(&source.text, path)?;
    let mut maps = Vec::with_capacity(docs.len());
    for (index, doc) in docs.into_iter().enumerate() {
        if let Some(map) = check_document(&source, index, doc)? {
            maps.push(map);
        }
    }
    let mut maps = maps.into_iter();
    let defaults = check_defaults(&source, maps.next())?;
    Ok(ExperimentFile {
        source,
        defaults,
        experiments: maps.collect(),
    })
}

/// A parsed document must be a mapping; an empty one after the first (a
/// trailing `---`) holds nothing and gives `None`.
pub(crate) fn check_document(
    source: &SourceText,
    index: usize,
    doc: Value,
) -> Result<Option<Mapping>, ConfigError> {
    match doc {
        Value::Mapping(map) => Ok(Some(map)),
        Value::Null if index > 0 => Ok(None),
        Value::Null => Err(ConfigError::Invalid {
            location: source.location(0, &[]),
            message: "the file is empty: the first document must be the default \
                      config with a `Global` mapping"
                .to_owned(),
        }),
        other => Err(ConfigError::Invalid {
            location: source.location(index, &[]),
            message: format!(
                "a document must be a mapping of keys to values, found {}",
                kind(&other)
            ),
        }),
    }
}

/// The first document must exist and hold a `Global` mapping.
pub(crate) fn check_defaults(
    source: &SourceText,
    first: Option<Mapping>,
) -> Result<Mapping, ConfigError> {
    let Some(defaults) = first else {
        return Err(ConfigError::Invalid {
            location: Location {
                path: source.path.clone(),
                ..Location::default()
            },
            message: "the file holds no document: the first document must be the default \
                      config with a `Global` mapping"
                .to_owned(),
        });
    };
    match defaults.get("Global") {
        Some(Value::Mapping(_)) => Ok(defaults),
        Some(other) => Err(ConfigError::Invalid {
            location: source.location(0, &["Global"]),
            message: format!("`Global` must be a mapping, found {}", kind(other)),
        }),
        None => Err(ConfigError::Invalid {
            location: source.location(0, &[]),
            message: "the default config (the first document) has no `Global` mapping; \
                      hint: start the file with `Global: {repeat: 1}`"
                .to_owned(),
        }),
    }
}

/// Parse every document of a multi-document YAML text, applying merge keys.
///
/// Large texts are split at their `---` lines (a document marker at column
/// 0 cannot occur inside a document) and the pieces are parsed on all
/// cores; positions in errors are shifted back to lines of the whole text.
pub fn parse_documents(text: &str, path: &Path) -> Result<Vec<Value>, ConfigError> {
    const PARALLEL_FROM: usize = 256 * 1024;
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    if text.len() < PARALLEL_FROM || threads < 2 || text.starts_with('%') || text.contains("\n%") {
        return parse_sequential(text, path, 0, 0);
    }
    let chunks = document_chunks(text);
    if chunks.len() < 2 {
        return parse_sequential(text, path, 0, 0);
    }
    // Contiguous runs of whole documents, one per thread.
    let per = chunks.len().div_ceil(threads);
    let results: Vec<Result<Vec<Value>, ConfigError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .chunks(per)
            .enumerate()
            .map(|(i, run)| {
                let (start, line) = run[0];
                let end = chunks.get((i + 1) * per).map_or(text.len(), |c| c.0);
                let first_doc = i * per;
                scope.spawn(move || parse_sequential(&text[start..end], path, line, first_doc))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Ok(Vec::new())))
            .collect()
    });
    let mut docs = Vec::new();
    for result in results {
        docs.extend(result?);
    }
    Ok(docs)
}

/// (byte offset, lines before it) of each document: the text's start and
/// every `---` line, except that comments before a leading `---` belong to
/// the first document.
fn document_chunks(text: &str) -> Vec<(usize, usize)> {
    let mut chunks = vec![(0, 0)];
    let mut content_seen = false;
    let mut offset = 0;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        let body = line.trim_end_matches(['\n', '\r']);
        let marker = body == "---" || body.starts_with("--- ") || body.starts_with("---\t");
        if marker && content_seen {
            chunks.push((offset, n));
        }
        if marker || (!body.trim().is_empty() && !body.trim_start().starts_with('#')) {
            content_seen = true;
        }
        offset += line.len();
    }
    chunks
}

/// Parse `text` (which starts after `line_offset` lines of the whole file,
/// with document number `first_doc`).
fn parse_sequential(
    text: &str,
    path: &Path,
    line_offset: usize,
    first_doc: usize,
) -> Result<Vec<Value>, ConfigError> {
    let mut docs = Vec::new();
    stream_documents(text, path, line_offset, first_doc, |doc| {
        docs.push(doc);
        true
    })?;
    Ok(docs)
}

/// Parse documents one by one, handing each to `each` until it returns
/// false; stops at the first error.
pub(crate) fn stream_documents(
    text: &str,
    path: &Path,
    line_offset: usize,
    first_doc: usize,
    mut each: impl FnMut(Value) -> bool,
) -> Result<(), ConfigError> {
    for (n, de) in yaml_serde::Deserializer::from_str(text).enumerate() {
        let index = first_doc + n;
        let shifted = |err: &yaml_serde::Error| {
            let mut err = yaml_error(path, err, Some(index));
            if let ConfigError::Yaml { location, .. } = &mut err {
                location.line = location.line.map(|l| l + line_offset);
            }
            err
        };
        match Value::deserialize(de) {
            Ok(mut value) => {
                if let Err(err) = value.apply_merge() {
                    return Err(shifted(&err));
                }
                if !each(value) {
                    return Ok(());
                }
            }
            Err(err) => return Err(shifted(&err)),
        }
    }
    Ok(())
}

fn yaml_error(path: &Path, err: &yaml_serde::Error, document: Option<usize>) -> ConfigError {
    let (line, column) = err
        .location()
        .map_or((None, None), |l| (Some(l.line()), Some(l.column())));
    let mut message = err.to_string();
    // The position is printed in the location already.
    if let Some(at) = message.find(" at line ") {
        message.truncate(at);
    }
    ConfigError::Yaml {
        location: Location {
            path: path.to_owned(),
            line,
            column,
            document,
            ..Location::default()
        },
        message,
    }
}

pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

impl SourceText {
    pub fn new(path: PathBuf, text: String) -> Self {
        let doc_starts = document_starts(&text);
        Self {
            path,
            text,
            doc_starts,
        }
    }

    /// The location of `key_path` in document `document`, with the line of
    /// the key when it can be found in the text.
    pub fn location(&self, document: usize, key_path: &[&str]) -> Location {
        let line = self.key_line(document, key_path);
        Location {
            path: self.path.clone(),
            line,
            column: None,
            document: Some(document),
            key: if key_path.is_empty() {
                None
            } else {
                Some(key_path.join("."))
            },
            ..Location::default()
        }
    }

    /// Line of a (nested) key in a document, found by indentation; the
    /// document's first line for an empty path. Only used for messages.
    pub fn key_line(&self, document: usize, key_path: &[&str]) -> Option<usize> {
        let start = *self.doc_starts.get(document)?;
        let end = self
            .doc_starts
            .get(document + 1)
            .copied()
            .unwrap_or(usize::MAX);
        if key_path.is_empty() {
            return Some(start);
        }
        let mut parent_indent: Option<usize> = None;
        let mut depth = 0;
        // The deepest part of the path found so far: a flow mapping such as
        // `Global: {repeat: 0}` keeps its keys on the parent's line.
        let mut nearest = None;
        for (n, line) in self.text.lines().enumerate() {
            let number = n + 1;
            if number < start {
                continue;
            }
            if number >= end {
                break;
            }
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = line.len() - trimmed.len();
            if let Some(p) = parent_indent {
                if indent <= p {
                    // Left the parent's block without finding the key.
                    return nearest;
                }
            }
            let key = key_path[depth];
            let found = [key.to_owned(), format!("\"{key}\""), format!("'{key}'")]
                .iter()
                .any(|k| {
                    trimmed
                        .strip_prefix(k.as_str())
                        .is_some_and(|rest| rest.trim_start().starts_with(':'))
                });
            if found {
                depth += 1;
                if depth == key_path.len() {
                    return Some(number);
                }
                nearest = Some(number);
                parent_indent = Some(indent);
            }
        }
        nearest
    }
}

/// First line of each document: line 1, and the line after each `---`
/// marker (except a marker that opens the file).
fn document_starts(text: &str) -> Vec<usize> {
    let mut starts = vec![1];
    let mut seen_content = false;
    for (n, line) in text.lines().enumerate() {
        let is_marker = line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
        if is_marker {
            if seen_content {
                starts.push(n + 2);
            } else {
                starts[0] = n + 2;
                seen_content = true;
            }
        } else if !line.trim().is_empty() && !line.trim_start().starts_with('#') {
            seen_content = true;
        }
    }
    starts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_lines_follow_indentation() {
        let text = "Global: {}\na: 1\n---\nName: x\nnested:\n  a: 2\n  inner:\n    a: 3\nb: 4\n";
        let source = SourceText::new("f.yaml".into(), text.to_owned());
        assert_eq!(source.key_line(0, &["a"]), Some(2));
        assert_eq!(source.key_line(1, &[]), Some(4));
        assert_eq!(source.key_line(1, &["nested", "a"]), Some(6));
        assert_eq!(source.key_line(1, &["nested", "inner", "a"]), Some(8));
        assert_eq!(source.key_line(1, &["b"]), Some(9));
        assert_eq!(source.key_line(1, &["missing"]), None);
    }

    #[test]
    fn syntax_error_has_position_and_stops() {
        let err = parse_text(
            Path::new("x.yaml"),
            "Global: {}\n---\na: [1, 2\nb: 3\n".into(),
        )
        .unwrap_err();
        let location = err.location().unwrap();
        assert!(location.line.is_some(), "{err}");
        assert!(
            err.to_string().starts_with("invalid YAML at x.yaml:"),
            "{err}"
        );
    }

    #[test]
    fn parallel_parse_matches_sequential() {
        use std::fmt::Write;
        let mut text = String::from("# head\nGlobal: {}\n");
        for i in 0..9000 {
            let _ = write!(text, "---\nName: e{i}\nv: [1, {{a: {i}}}]\n");
        }
        text.push_str("---\n# trailing comment only\n");
        let parallel = parse_documents(&text, Path::new("x.yaml")).unwrap();
        let sequential = parse_sequential(&text, Path::new("x.yaml"), 0, 0).unwrap();
        assert_eq!(parallel, sequential);
        let mut bad = text.clone();
        bad.push_str("---\na: [1\n");
        let err = parse_documents(&bad, Path::new("x.yaml")).unwrap_err();
        let seq = parse_sequential(&bad, Path::new("x.yaml"), 0, 0).unwrap_err();
        assert_eq!(err.location(), seq.location());
    }

    #[test]
    fn merge_keys_are_applied() {
        let text = "Global: {}\n---\nbase: &b {p: 0.5, q: 1}\nderived: {<<: *b, q: 2}\n";
        let file = parse_text(Path::new("x.yaml"), text.into()).unwrap();
        let derived = file.experiments[0]["derived"].as_mapping().unwrap();
        assert_eq!(derived["p"], Value::from(0.5));
        assert_eq!(derived["q"], Value::from(2));
    }

    #[test]
    fn structural_errors() {
        let cases = [
            ("", "the file is empty"),
            ("# only a comment\n", "the file is empty"),
            ("a: 1\n", "no `Global`"),
            ("Global: 3\n", "`Global` must be a mapping"),
            ("Global: {}\n---\n- 1\n- 2\n", "must be a mapping"),
            ("Global: {}\n---\njust text\n", "must be a mapping"),
        ];
        for (text, expected) in cases {
            let err = parse_text(Path::new("x.yaml"), text.into()).unwrap_err();
            assert!(err.to_string().contains(expected), "{text:?}: {err}");
        }
    }
}
