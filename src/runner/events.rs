//! The hook point for everything that watches a run: the progress display
//! today, a Slack notifier or a web page tomorrow. The session calls every
//! `Observer` in turn; all methods have empty defaults, so an observer only
//! implements what it cares about.

use std::path::Path;
use std::time::Duration;

use crate::error::exit;
use crate::queue::QueueReport;
use crate::yaml_log::{Record, Status};

/// An experiment that has just started.
#[derive(Debug, Clone)]
pub(crate) struct Started<'a> {
    pub index: usize,
    pub name: &'a str,
    pub run_dir: &'a Path,
    /// The module's process id (or another executor's job id).
    pub id: &'a str,
    /// Experiments still pending after this one.
    pub pending: usize,
    /// Its slot (`COOL_RUNNER_SLOT`).
    pub slot: usize,
    /// How many modules run now, this one included.
    pub running: usize,
}

/// The outcome of a whole run, given to `Observer::queue_finished`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Summary {
    pub done: usize,
    pub failed: usize,
    pub interrupted: usize,
    pub timeout: usize,
    pub skipped: usize,
    /// Not run: the store had a `done` run with the same identity.
    pub cached: usize,
    /// Experiments left in the queue (file) at the end.
    pub pending: usize,
    /// The person stopped the run (second Ctrl-C, SIGTERM).
    pub stopped: bool,
    /// `--fail-fast` stopped the run.
    pub failed_fast: bool,
    pub elapsed: Duration,
}

impl Summary {
    pub(crate) fn count(&mut self, status: Status) {
        match status {
            Status::Done => self.done += 1,
            Status::Failed => self.failed += 1,
            Status::Interrupted => self.interrupted += 1,
            Status::Timeout => self.timeout += 1,
        }
    }

    /// 130 if the person interrupted anything, else 1 if anything failed or
    /// timed out, else 0.
    pub(crate) fn exit_code(&self) -> i32 {
        if self.stopped || self.interrupted > 0 {
            exit::INTERRUPTED
        } else if self.failed > 0 || self.timeout > 0 {
            exit::FAILED
        } else {
            exit::OK
        }
    }
}

/// Watches a run. Called on the session's thread: keep it quick (a slow
/// notifier should hand its work to a thread of its own).
pub(crate) trait Observer {
    /// A module was started.
    fn experiment_started(&mut self, _started: &Started<'_>) {}
    /// An experiment finished and was logged (or failed to start).
    fn experiment_finished(&mut self, _record: &Record) {}
    /// An experiment was not run: its result is cached; `document` is the
    /// stored log document (with `CACHED: true`).
    fn experiment_cached(&mut self, _name: &str, _document: &yaml_serde::Mapping) {}
    /// A `Name: skip` experiment was taken from the queue and not run.
    fn experiment_skipped(&mut self, _name: &str) {}
    /// Someone edited the queue file.
    fn queue_changed(&mut self, _report: &QueueReport) {}
    /// Something people should read (Ctrl-C hints, warnings).
    fn message(&mut self, _text: &str) {}
    /// The run is over: nothing is pending (or it was stopped).
    fn queue_finished(&mut self, _summary: &Summary) {}
}
