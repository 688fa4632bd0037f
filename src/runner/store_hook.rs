//! The seam between the session and a results store: the session asks
//! whether an experiment has a cached result and tells the store when a
//! module starts and ends. The runner does not know `SQLite`; `store/`
//! implements this trait.

use yaml_serde::Mapping;

use crate::executor::Job;
use crate::yaml_log::Record;

/// The answer of `RunStore::lookup`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lookup {
    /// A `done` run with the same identity: its logged document.
    Cached(Mapping),
    /// Not cached: run it; the identity to record it under.
    Run(String),
    /// The store could not answer (the message is a warning); run it.
    Unknown(String),
}

/// A results store, as the session sees it. Failures are warnings: a store
/// that cannot be written never stops a run.
pub(crate) trait RunStore {
    /// Whether `experiment` (expanded) has a cached result.
    fn lookup(&mut self, experiment: &Mapping) -> Lookup;
    /// A module started; returns the store's id of the run.
    fn started(
        &mut self,
        identity: &str,
        job: &Job,
        pid: &str,
        slot: usize,
    ) -> Result<Option<i64>, String>;
    /// A module ended (or could not start, `row` is then `None`).
    fn finished(&mut self, row: Option<i64>, identity: &str, record: &Record)
        -> Result<(), String>;
}
