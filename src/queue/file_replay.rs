//! Resuming a queue file: the last runner's journal applied to the file.

use std::collections::HashSet;
use std::path::Path;

use super::super::documents::parse_doc;
use super::super::journal::{Digest, Record};
use super::super::pending::Pending;
use super::super::segments::split;
use super::{FileQueue, Queue, QueueError, Resumed, Ticket};

impl FileQueue {
    /// Apply the journal of the last runner to the file: its takes since
    /// the file was last written, and the experiments it left running put
    /// back at the head (recorded as requeued, then written out).
    pub(super) fn replay(&mut self, records: &[Record]) -> Result<Resumed, QueueError> {
        let is_version = |r: &Record| matches!(r, Record::Base(_) | Record::Wrote(_));
        let this_version =
            |r: &Record| matches!(r, Record::Base(s) | Record::Wrote(s) if Some(*s) == self.stamp);
        let from = records
            .iter()
            .rposition(this_version)
            .or_else(|| records.iter().rposition(is_version))
            .map_or(0, |i| i + 1);
        let mut source_changed = false;
        for (i, record) in records.iter().enumerate() {
            let after = i >= from;
            match record {
                Record::Take {
                    digest,
                    ticket,
                    rest,
                    run,
                    run_dir,
                } => {
                    if after {
                        self.pending.remove(digest);
                        self.pending.push_front(documents(rest).into_iter());
                    }
                    if let Some(ticket) = ticket {
                        self.running.insert(*ticket, (run.clone(), run_dir.clone()));
                    }
                }
                Record::Done(ticket) => {
                    self.running.remove(ticket);
                }
                Record::Requeue(tickets) => {
                    let texts: Vec<String> = tickets
                        .iter()
                        .filter_map(|t| self.running.remove(t))
                        .map(|(run, _)| run)
                        .collect();
                    if after {
                        self.pending.push_front(texts.into_iter());
                    }
                }
                Record::Source(hash) => source_changed = *hash != self.source,
                Record::Base(_) | Record::Wrote(_) => {}
            }
        }
        // Logged just before the crash (its end not yet in the journal):
        // done, not to be run (or logged as cached) again.
        let logged: Vec<Ticket> = self
            .running
            .iter()
            .filter(|(_, (run, run_dir))| already_logged(run, run_dir))
            .map(|(ticket, _)| *ticket)
            .collect();
        for ticket in &logged {
            self.running.remove(ticket);
            self.journal.append(&Record::Done(*ticket))?;
        }
        let crashed: Vec<Ticket> = self.running.keys().copied().collect();
        if !crashed.is_empty() {
            self.requeue(&crashed)?;
        } else if self.pending.changed() {
            self.write_out(true)?;
        } else {
            self.compact()?;
        }
        Ok(Resumed {
            requeued: crashed.len(),
            source_changed,
        })
    }
}

/// How much of the end of a log is searched for a crashed run's `RUN_DIR`
/// (the run ended last, so its document is near the end).
const LOG_TAIL: u64 = 1 << 20;

/// Whether the log of experiment `run` (its `YamlLog`) ends with the
/// document of the run in `run_dir`.
fn already_logged(run: &str, run_dir: &str) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    if run_dir.is_empty() {
        return false;
    }
    let log = yaml_serde::from_str::<yaml_serde::Mapping>(run)
        .ok()
        .and_then(|m| {
            m.get(crate::model::keys::YAML_LOG)?
                .as_str()
                .map(str::to_owned)
        });
    let Some(Ok(mut file)) = log.map(std::fs::File::open) else {
        return false;
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let mut tail = Vec::new();
    if file
        .seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL)))
        .is_err()
        || file.read_to_end(&mut tail).is_err()
    {
        return false;
    }
    let tail = String::from_utf8_lossy(&tail);
    tail.lines()
        .any(|line| line.starts_with("RUN_DIR: ") && line.contains(run_dir))
}

/// Each document of a run of marked documents.
fn documents(text: &str) -> Vec<String> {
    split(text)
        .into_iter()
        .filter(|s| s.has_content)
        .map(|s| text[s.start..s.end].to_owned())
        .collect()
}

/// Parse the documents of `pending` not in `known` (a person's new or
/// changed ones); runner-written documents are parsed when they reach the
/// head.
pub(super) fn validate(
    pending: &Pending,
    known: &HashSet<Digest>,
    path: &Path,
) -> Result<(), String> {
    if known.is_empty() {
        // Resuming: only what a person wrote (no mark) is parsed now.
        for (text, line, expanded) in pending.texts() {
            if !expanded {
                parse_doc(text, line, false, path)?;
            }
        }
        return Ok(());
    }
    for (text, line, digest) in pending.iter() {
        if !known.contains(&digest) {
            parse_doc(text, line, false, path)?;
        }
    }
    Ok(())
}
