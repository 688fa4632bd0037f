//! Appending records to a `YamlLog`.
//!
//! Each document is serialised to bytes first and handed to the kernel in
//! one `write` on a file opened with `O_APPEND`: appends to a regular file
//! are serialised by the inode lock, so two runners sharing a log never
//! interleave and a reader (or a crash of the runner) never sees half a
//! document. A short write (a full disk) is truncated away again and
//! reported as an error. Durability against a power cut is `sync`'s job: the session
//! calls it at the same moments it flushes the queue file (group commit),
//! so a burst of millisecond experiments shares one fsync.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use yaml_serde::Mapping;

use crate::yaml::write::document_bytes;

#[derive(Debug, thiserror::Error)]
pub(crate) enum LogError {
    #[error("failed to write the log `{path}`: {source}", path = path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("failed to serialise a log document for `{path}`: {source}", path = path.display())]
    Yaml {
        path: PathBuf,
        source: yaml_serde::Error,
    },
}

/// Append `document` to the log at `path`, creating directories and the
/// file. Call `sync` on the path later to make it durable.
pub(crate) fn append(path: &Path, document: &Mapping) -> Result<(), LogError> {
    let bytes = document_bytes(document).map_err(|source| LogError::Yaml {
        path: path.to_owned(),
        source,
    })?;
    let bytes = crate::secrets::redact_bytes(&bytes);
    let io = |source| LogError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    // One `write` of the whole buffer. A short one (disk full, file size
    // limit) is undone: the log never holds half a document.
    match file.write(&bytes) {
        Ok(n) if n == bytes.len() => Ok(()),
        Ok(n) => {
            undo_short_write(&mut file, n);
            Err(io(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                format!(
                    "only {n} of {} bytes written (no space left?); the document was removed again",
                    bytes.len()
                ),
            )))
        }
        Err(err) => Err(io(err)),
    }
}

/// Cut the `written` bytes of a short append off again, if nobody appended
/// after them (with `O_APPEND` the offset is the end of what we wrote).
fn undo_short_write(file: &mut std::fs::File, written: usize) {
    use std::io::Seek;
    let Ok(end) = file.stream_position() else {
        return;
    };
    if file.metadata().is_ok_and(|m| m.len() == end) {
        let _ = file.set_len(end - written as u64);
    }
}

/// fsync the log at `path` (everything appended so far, by anyone).
pub(crate) fn sync(path: &Path) -> Result<(), LogError> {
    let io = |source| LogError::Io {
        path: path.to_owned(),
        source,
    };
    OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|file| file.sync_data())
        .map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[test]
    fn concurrent_appends_stay_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/log.yaml");
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        let mut doc = Mapping::new();
                        doc.insert("t".into(), t.into());
                        doc.insert("i".into(), i.into());
                        doc.insert("pad".into(), "x".repeat(3000).into());
                        append(&path, &doc).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut count = 0;
        for de in yaml_serde::Deserializer::from_str(&text) {
            let doc = yaml_serde::Value::deserialize(de).unwrap();
            assert_eq!(doc["pad"].as_str().unwrap().len(), 3000);
            count += 1;
        }
        assert_eq!(count, 200);
    }
}
