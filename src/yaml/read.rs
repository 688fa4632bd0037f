//! Reading YAML documents with their positions: a multi-document text is
//! parsed into `yaml_serde` values, merge keys applied, and errors carry the
//! file, line, column and document number.

use std::path::Path;

use serde::Deserialize;
use yaml_serde::Value;

use crate::config::{ConfigError, Location};
use crate::yaml::limits::{DepthGuard, TooDeep};

/// Parse every document of a multi-document YAML text, applying merge keys.
///
/// Large texts are split at their `---` lines (a document marker at column
/// 0 cannot occur inside a document) and the pieces are parsed on all
/// cores; positions in errors are shifted back to lines of the whole text.
pub(crate) fn parse_documents(text: &str, path: &Path) -> Result<Vec<Value>, ConfigError> {
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
    // YAML allows a byte-order mark at the start; libyaml does not.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let too_deep = |deep: TooDeep| ConfigError::Yaml {
        location: Location {
            path: path.to_owned(),
            line: Some(deep.line + line_offset),
            ..Location::default()
        },
        message: deep.to_string(),
    };
    // Each document is checked before the parser reads it: a reader that
    // stops early does not pay for the rest of the file.
    let mut guard = DepthGuard::new(text);
    let mut documents = yaml_serde::Deserializer::from_str(text);
    for n in 0.. {
        guard.through_document(n).map_err(too_deep)?;
        let Some(de) = documents.next() else {
            break;
        };
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
