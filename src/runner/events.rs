//! The structured events of a run and the `Observer`s that watch them: the
//! `YamlLog` writer, the results store, the Slack notifier, the progress
//! display (a web page tomorrow). The session calls every observer in turn;
//! all methods have empty defaults, so an observer only implements what it
//! cares about. An observer says what went wrong through `warnings`, which
//! every observer then gets as a message; one that could not record an
//! experiment at all (a log on a full disk) says so through `failed`, and
//! the session stops and keeps that experiment in the queue.

use std::path::Path;
use std::time::Duration;

use yaml_serde::Mapping;

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
    /// The expanded experiment.
    pub experiment: &'a Mapping,
    /// Its identity in the results store, if the run has one.
    pub identity: Option<&'a str>,
    /// Where it is logged (`YamlLog`), if anywhere.
    pub log: Option<&'a Path>,
}

/// An experiment that was not run: the store has a `done` run of it.
#[derive(Debug, Clone)]
pub(crate) struct Cached<'a> {
    pub name: &'a str,
    /// The stored log document, with `CACHED: true`.
    pub document: &'a Mapping,
    /// Where this experiment is logged (`YamlLog`), if anywhere.
    pub log: Option<&'a Path>,
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
    /// Experiments whose log document could not be written: they were
    /// put back in the queue.
    pub unrecorded: usize,
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
            Status::Skipped => self.skipped += 1,
        }
    }

    /// 130 if the person interrupted anything, else 1 if anything failed,
    /// timed out or could not be logged, else 0.
    pub(crate) fn exit_code(&self) -> i32 {
        if self.stopped || self.interrupted > 0 {
            exit::INTERRUPTED
        } else if self.failed > 0 || self.timeout > 0 || self.unrecorded > 0 {
            exit::FAILED
        } else {
            exit::OK
        }
    }
}

/// Watches a run. Called on the session's thread: keep it quick (a slow
/// notifier hands its work to a thread of its own).
pub(crate) trait Observer {
    /// A module was started.
    fn experiment_started(&mut self, _started: &Started<'_>) {}
    /// An experiment finished (or failed to start); `document` is its log
    /// document, built once for every observer.
    fn experiment_finished(&mut self, _record: &Record, _document: &Mapping) {}
    /// An attempt failed and the experiment starts again (`Retries`): the
    /// attempt is neither logged nor counted, only recorded in the store.
    fn attempt_failed(&mut self, _record: &Record, _document: &Mapping) {}
    /// An experiment was not run: its result is cached.
    fn experiment_cached(&mut self, _cached: &Cached<'_>) {}
    /// A `Name: skip` experiment was taken from the queue and not run.
    fn experiment_skipped(&mut self, _name: &str) {}
    /// Someone edited the queue file.
    fn queue_changed(&mut self, _report: &QueueReport) {}
    /// Something people should read (Ctrl-C hints, warnings).
    fn message(&mut self, _text: &str) {}
    /// Make what was written so far durable: called together with the
    /// queue file's flush (group commit).
    fn checkpoint(&mut self) {}
    /// The run is over: nothing is pending (or it was stopped).
    fn queue_finished(&mut self, _summary: &Summary) {}
    /// What went wrong since the last call, as warnings for people.
    fn warnings(&mut self) -> Vec<String> {
        Vec::new()
    }
    /// The event just seen could not be recorded (its log document could
    /// not be written): the session starts nothing new and puts the
    /// experiment back in the queue.
    fn failed(&mut self) -> Option<String> {
        None
    }
}

/// Every observer of a session, called in the order they were added.
#[derive(Default)]
pub(crate) struct Observers<'a> {
    all: Vec<Box<dyn Observer + 'a>>,
    /// What an observer failed to record, until the session takes it.
    failure: Option<String>,
}

impl<'a> Observers<'a> {
    pub(crate) fn add(&mut self, observer: Box<dyn Observer + 'a>) {
        self.all.push(observer);
    }

    /// Tell every observer, then pass on the warnings this caused.
    pub(crate) fn each(&mut self, mut event: impl FnMut(&mut dyn Observer)) {
        for observer in &mut self.all {
            event(observer.as_mut());
        }
        let warnings: Vec<String> = self.all.iter_mut().flat_map(|o| o.warnings()).collect();
        for warning in warnings {
            self.message(&format!("warning: {warning}"));
        }
        if let Some(failure) = self.all.iter_mut().find_map(|o| o.failed()) {
            self.failure = Some(failure);
        }
    }

    /// What the last events could not record (see `Observer::failed`).
    pub(crate) fn take_failure(&mut self) -> Option<String> {
        self.failure.take()
    }

    pub(crate) fn message(&mut self, text: &str) {
        for observer in &mut self.all {
            observer.message(text);
        }
    }
}
