//! Admission: what to do with the experiment at the head of the queue.
//!
//! One function from the head to a decision: start it (with its lease and
//! store identity), it is cached, it is skipped (`Name: skip`), it cannot
//! run (log it as failed), or wait (no free slot or GPUs now; pipelines will
//! also wait here for the experiments they depend on). Expansion happens
//! here, in queue order, so `E` is the same whatever the number of slots.

use yaml_serde::{Mapping, Value};

use super::awaits::{Dependencies, Node, Readiness};
use super::store_hook::{Lookup, RunStore};
use crate::config::{merge_over, ConfigError, Expander};
use crate::executor::{Capacity, Executor, Lease};
use crate::model::JobSpec;
use crate::queue::QueueEntry;

/// An experiment that may start now.
pub(crate) struct Ready {
    pub experiment: Mapping,
    pub spec: JobSpec,
    pub lease: Lease,
    /// Its identity in the results store, if the run has one.
    pub identity: Option<String>,
}

/// The decision about the head of the queue.
pub(crate) enum Admission {
    Start(Box<Ready>),
    /// A `done` run of it is in the store: its log document.
    Cached {
        spec: JobSpec,
        document: Mapping,
    },
    /// `Name: skip`.
    Skip {
        name: String,
    },
    /// It cannot run: log it as failed with this error.
    Fail {
        experiment: Mapping,
        error: String,
    },
    /// Not now.
    Wait,
    /// It waits for these earlier experiments: leave it in the queue and
    /// look further (pipelines).
    Park(Vec<Node>),
    /// An experiment it waited for did not end `done`: log it as skipped.
    Skipped {
        experiment: Mapping,
        error: String,
    },
}

/// The decision, what expansion left to put back at the head of the queue
/// (the other `Repeat` copies of a new document), and a warning for people.
pub(crate) struct Decision {
    pub admission: Admission,
    pub rest: Vec<Mapping>,
    pub warning: Option<String>,
}

/// Expands queued documents and decides about them.
pub(crate) struct Admitter<'s> {
    expander: Expander<'s>,
    defaults: Mapping,
    global_rep: Option<u64>,
    pub(crate) dependencies: Dependencies,
}

impl<'s> Admitter<'s> {
    pub(crate) fn new(expander: Expander<'s>, defaults: Mapping) -> Self {
        Self {
            expander,
            defaults,
            global_rep: None,
            dependencies: Dependencies::default(),
        }
    }

    /// A queued experiment that waits (`WAITS_FOR`): evaluated when what it
    /// waits for has ended; `Err` is the decision when it cannot start.
    fn ready(
        &mut self,
        doc: &QueueEntry,
        store: Option<&mut (dyn RunStore + '_)>,
    ) -> Result<Option<Mapping>, Decision> {
        if !Dependencies::waits(doc) {
            return Ok(None);
        }
        match self.dependencies.check(doc, &mut self.expander, store) {
            Readiness::Ready(experiment) => Ok(Some(experiment)),
            Readiness::Wait(nodes) => Err(decision(Admission::Park(nodes), Vec::new())),
            Readiness::Skip(error) => {
                let experiment = merge_over(doc, &self.defaults);
                Err(decision(
                    Admission::Skipped { experiment, error },
                    Vec::new(),
                ))
            }
            Readiness::Fail(error) => {
                let experiment = merge_over(doc, &self.defaults);
                Err(decision(Admission::Fail { experiment, error }, Vec::new()))
            }
        }
    }

    /// Decide about `doc`, the head of the queue.
    pub(crate) fn admit(
        &mut self,
        doc: &QueueEntry,
        executor: &mut dyn Executor,
        mut store: Option<&mut (dyn RunStore + '_)>,
    ) -> Decision {
        let ready = match self.ready(doc, store.as_deref_mut()) {
            Ok(ready) => ready,
            Err(decision) => return decision,
        };
        // `GPUs` is read before expansion (it decides whether the head can
        // start now), so it is a plain integer, not a `parse` expression.
        let capacity = executor.capacity(&merge_over(doc, &self.defaults));
        if capacity == Capacity::Wait {
            return decision(Admission::Wait, Vec::new());
        }
        let release = |executor: &mut dyn Executor| {
            if let Capacity::Now(lease) = &capacity {
                executor.release(lease);
            }
        };
        let expanded = match ready {
            Some(experiment) => Ok((experiment, Vec::new())),
            None => self.expand(doc),
        };
        let (experiment, rest) = match expanded {
            Ok(expanded) => expanded,
            Err(error) => {
                release(executor);
                let experiment = merge_over(doc, &self.defaults);
                return decision(Admission::Fail { experiment, error }, Vec::new());
            }
        };
        let spec = match JobSpec::from_experiment(&experiment) {
            Ok(spec) if !spec.skip => spec,
            Ok(spec) => {
                release(executor);
                self.dependencies.skipped(&experiment);
                return decision(Admission::Skip { name: spec.name }, rest);
            }
            Err(error) => {
                release(executor);
                return decision(Admission::Fail { experiment, error }, rest);
            }
        };
        let lease = match capacity {
            Capacity::Now(lease) => lease,
            Capacity::Never(err) => {
                let error = err.to_string();
                return decision(Admission::Fail { experiment, error }, rest);
            }
            Capacity::Wait => unreachable!("returned above"),
        };
        let (identity, warning) = match store.as_deref_mut().map(|s| s.lookup(&experiment)) {
            Some(Lookup::Cached(document)) => {
                executor.release(&lease);
                if experiment.contains_key(crate::model::keys::E_INDEX) {
                    // Others wait for it: its stored results are what they read.
                    let identity = store.and_then(|s| s.stored(&experiment)).map(|s| s.0);
                    let status = Some(crate::yaml_log::Status::Done);
                    self.dependencies
                        .ended(&experiment, status, &document, identity.as_deref());
                }
                return decision(Admission::Cached { spec, document }, rest);
            }
            Some(Lookup::Run(identity)) => (Some(identity), None),
            Some(Lookup::Unknown(warning)) => (None, Some(warning)),
            None => (None, None),
        };
        let ready = Ready {
            experiment,
            spec,
            lease,
            identity,
        };
        Decision {
            admission: Admission::Start(Box::new(ready)),
            rest,
            warning,
        }
    }

    /// Expand `doc`: the experiment to decide about and the rest of its
    /// copies.
    fn expand(&mut self, doc: &QueueEntry) -> Result<(Mapping, Vec<Mapping>), String> {
        if let Some(rep) = doc.get("GLOBAL_REP").and_then(Value::as_u64) {
            if self.global_rep != Some(rep) {
                self.expander.start_global_rep(rep);
                self.global_rep = Some(rep);
            }
        }
        let mut expanded = self
            .expander
            .expand_queued(doc)
            .map_err(|err| expansion_error(&err))?;
        let rest = expanded.split_off(1.min(expanded.len()));
        let experiment = expanded
            .pop()
            .ok_or_else(|| "failed to expand: no experiment came out".to_owned())?;
        Ok((experiment, rest))
    }
}

fn decision(admission: Admission, rest: Vec<Mapping>) -> Decision {
    Decision {
        admission,
        rest,
        warning: None,
    }
}

/// An expansion error of a document taken from the queue, without the
/// experiment-file location (the queue's documents have none).
pub(crate) fn expansion_error(err: &ConfigError) -> String {
    match err {
        ConfigError::Expr {
            location,
            expr,
            source,
        } => format!(
            "failed to expand: key `{}`: failed to evaluate `{expr}`: {source}",
            location.key.as_deref().unwrap_or("?")
        ),
        ConfigError::Invalid { location, message } => match &location.key {
            Some(key) => format!("failed to expand: key `{key}`: {message}"),
            None => format!("failed to expand: {message}"),
        },
        other => format!("failed to expand: {other}"),
    }
}
