//! What the session needs from a queue, wherever it lives.

use std::fmt;
use std::path::PathBuf;

use yaml_serde::Mapping;

use super::entry::QueueEntry;

/// The head of the queue.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Peek {
    /// The next experiment document, with its state (not yet removed: see
    /// `Queue::commit`).
    Next(QueueEntry),
    /// Nothing is pending.
    Empty,
    /// The queue file is not usable as it is (invalid YAML): wait for an edit.
    Invalid,
}

/// A change of the queue made by someone else, for people to see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum QueueReport {
    Changed {
        pending: usize,
        added: usize,
        removed: usize,
        changed: usize,
        reordered: bool,
    },
    /// The file does not parse; it is left as written.
    Invalid { path: PathBuf, message: String },
    /// Another process has the file open for writing: the runner waits
    /// until it is done before it reads it.
    Writing { path: PathBuf },
    /// The file was deleted: nothing is pending any more.
    Removed { path: PathBuf },
}

impl fmt::Display for QueueReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Changed {
                pending,
                added,
                removed,
                changed,
                reordered,
            } => {
                write!(f, "queue: {pending} pending")?;
                let mut parts = Vec::new();
                if *added > 0 {
                    parts.push(format!("+{added} added"));
                }
                if *removed > 0 {
                    parts.push(format!("-{removed} removed"));
                }
                if *changed > 0 {
                    parts.push(format!("{changed} changed"));
                }
                if *reordered {
                    parts.push("reordered".to_owned());
                }
                if !parts.is_empty() {
                    write!(f, " ({})", parts.join(", "))?;
                }
                Ok(())
            }
            Self::Invalid { path, message } => write!(
                f,
                "queue: invalid edit of `{}`: {message}; waiting for a valid version \
                 (the file is left as written)",
                path.display()
            ),
            Self::Writing { path } => write!(
                f,
                "queue: `{}` is being written by another program; waiting for it to finish",
                path.display()
            ),
            Self::Removed { path } => write!(
                f,
                "queue: `{}` was deleted: no experiment is pending any more",
                path.display()
            ),
        }
    }
}

/// A failure to read or write the queue file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum QueueError {
    #[error("failed to {action} the queue file `{path}`: {source}", path = path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the queue file `{path}` is not valid: {message}; hint: fix it, or delete it to start afresh", path = path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("the queue file `{path}` is in use by another cool-runner (pid {pid}); one runner per queue file: wait for it, stop it, or give this run another `Global.queue`", path = path.display())]
    Busy { path: PathBuf, pid: String },
    #[error("failed to serialise an experiment for the queue file: {0}")]
    Yaml(#[from] yaml_serde::Error),
}

/// An experiment the queue handed out and that has started: the queue
/// keeps it as running (a queue file, in its journal, so that a crash puts
/// it back) until it is `finished` or `requeue`d.
pub(crate) type Ticket = u64;

/// A parked document ([`Queue::park`]).
pub(crate) type ParkId = u128;

/// An experiment that started from the head of the queue.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Launch<'a> {
    pub experiment: &'a Mapping,
    /// Its run directory: the `RUN_DIR` of its log document, by which a
    /// resumed queue tells a run that was logged just before a crash.
    pub run_dir: &'a std::path::Path,
}

/// A queue of experiment documents. Taking is two steps, so that an
/// experiment leaves a queue file only once it has started: `peek`, start
/// it, then `commit`.
pub(crate) trait Queue {
    /// The next document, re-reading the file if someone changed it.
    fn peek(&mut self) -> Peek;

    /// Remove the document returned by the last `peek` and put
    /// `replacement` in its place (the other `Repeat` copies of a new
    /// document, expanded when it was taken: they are queued as expanded).
    /// `started`: the experiment started from it, kept as running under
    /// the returned ticket.
    fn commit(
        &mut self,
        replacement: &[Mapping],
        started: Option<Launch<'_>>,
    ) -> Result<Option<Ticket>, QueueError>;

    /// A started experiment ended (and was logged): forget it.
    fn finished(&mut self, ticket: Ticket) -> Result<(), QueueError>;

    /// Put started experiments back at the head, in this order (ones
    /// interrupted by a stop), and write them out at once.
    fn requeue(&mut self, tickets: &[Ticket]) -> Result<(), QueueError>;

    /// Make the commits so far durable (a queue file may batch them: see
    /// `file.rs`). The session calls it once an experiment has run a
    /// little while, before it waits, and at the end.
    fn flush(&mut self) -> Result<(), QueueError> {
        Ok(())
    }

    /// Look at the file again after a change notification.
    fn refresh(&mut self);

    /// Leave the document returned by the last `peek` pending, but skip it
    /// in later peeks until it is unparked (pipelines: it waits for others
    /// to end). `None`: this queue cannot; the head then blocks.
    fn park(&mut self) -> Option<ParkId> {
        None
    }

    /// Peek at these parked documents again (in their queue order).
    fn unpark(&mut self, _ids: &[ParkId]) {}

    /// Peek at every parked document again.
    fn unpark_all(&mut self) {}

    /// How many documents are pending (as last read).
    fn pending(&self) -> usize;

    /// Reports of changes seen since the last call.
    fn take_reports(&mut self) -> Vec<QueueReport>;

    /// The end of the run: remove the file if nothing is pending and
    /// `keep` is false.
    fn finish(&mut self, keep: bool) -> Result<(), QueueError>;
}
