//! Reading experiment files: multi-document YAML, merge keys, positions.

use std::path::{Path, PathBuf};

use yaml_serde::{Mapping, Value};

use super::error::{ConfigError, Location};
use crate::yaml::read::parse_documents;

/// The text of a YAML file, kept to point errors at lines.
#[derive(Debug, Clone)]
pub struct SourceText {
    pub path: PathBuf,
    pub text: String,
    /// First line (1-based) of each document, found when a message first
    /// needs it (a whole-file scan that `explain --pick 3` need not pay).
    doc_starts: std::sync::OnceLock<Vec<usize>>,
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
        Self {
            path,
            text,
            doc_starts: std::sync::OnceLock::new(),
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
        self.find_key_line(document, key_path, false)
    }

    /// [`SourceText::key_line`] for a path whose first key is a key of the
    /// document itself (unindented), not a nested key of the same name.
    pub(crate) fn own_key_line(&self, document: usize, key_path: &[&str]) -> Option<usize> {
        self.find_key_line(document, key_path, true)
    }

    fn find_key_line(&self, document: usize, key_path: &[&str], top: bool) -> Option<usize> {
        let doc_starts = self.doc_starts.get_or_init(|| document_starts(&self.text));
        let start = *doc_starts.get(document)?;
        let end = doc_starts.get(document + 1).copied().unwrap_or(usize::MAX);
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
            if top && depth == 0 && indent > 0 {
                continue;
            }
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
