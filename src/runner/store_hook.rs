//! The seam between admission and a results store: is there a cached
//! result of this experiment? The runner does not know `SQLite`; `store/`
//! implements this trait, and records runs as an observer of the session.

use yaml_serde::Mapping;

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

/// A results store, as admission sees it. Failures are warnings: a store
/// that cannot be read never stops a run.
pub(crate) trait RunStore {
    /// Whether `experiment` (expanded) has a cached result.
    fn lookup(&mut self, experiment: &Mapping) -> Lookup;

    /// The identity of `experiment` and its stored `done` run, if any,
    /// whatever `--rerun` says (pipelines: an experiment that finished in
    /// an earlier invocation, whose results a later one reads).
    fn stored(&mut self, _experiment: &Mapping) -> Option<(String, Option<Mapping>)> {
        None
    }
}
