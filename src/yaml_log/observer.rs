//! The `YamlLog` writer as an observer of a run: every finished or cached
//! experiment is appended to its log, and the logs written to are made
//! durable at the session's checkpoints (group commit with the queue file).
//! A document that cannot be appended is a failure (`Observer::failed`):
//! the session stops and keeps that experiment in the queue.

use std::path::{Path, PathBuf};

use yaml_serde::Mapping;

use super::{append, sync, Record};
use crate::runner::{Cached, Observer};

#[derive(Debug, Default)]
pub(crate) struct LogWriter {
    /// Logs appended to since the last checkpoint.
    unsynced: Vec<PathBuf>,
    warnings: Vec<String>,
    /// The last document that could not be appended (full disk).
    failure: Option<String>,
}

impl LogWriter {
    fn append(&mut self, path: &Path, document: &Mapping) {
        match append(path, document) {
            Ok(()) if !self.unsynced.iter().any(|p| p == path) => {
                self.unsynced.push(path.to_owned());
            }
            Ok(()) => {}
            Err(err) => self.failure = Some(err.to_string()),
        }
    }
}

impl Observer for LogWriter {
    fn experiment_finished(&mut self, record: &Record, document: &Mapping) {
        if let Some(path) = &record.log {
            self.append(path, document);
        }
    }

    fn experiment_cached(&mut self, cached: &Cached<'_>) {
        if let Some(path) = cached.log {
            self.append(path, cached.document);
        }
    }

    fn checkpoint(&mut self) {
        for path in std::mem::take(&mut self.unsynced) {
            if let Err(err) = sync(&path) {
                self.warnings.push(err.to_string());
            }
        }
    }

    fn warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    fn failed(&mut self) -> Option<String> {
        self.failure.take()
    }
}
