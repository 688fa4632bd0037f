//! Pipelines at run time: when may an experiment that waits (`WAITS_FOR`,
//! see `config/awaits.rs`) start, and with what values.
//!
//! It keeps `E` of the expansion (one history per global repetition) and
//! what became of each experiment others wait for. When one of them ends
//! `done`, its log document (configuration, results, `STATUS`,
//! `TIME_ELAPSED`, `RUN_DIR`) takes its place in `E`; when it ends in any
//! other way, the experiments that wait for it are skipped. An experiment
//! the queue no longer holds is looked up in the results store: a `done`
//! run from an earlier invocation meets the dependency at once.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use yaml_serde::{Mapping, Value};

use super::admission::expansion_error;
use super::store_hook::RunStore;
use crate::config::{global_rep, waits_for, Expander};
use crate::expr::History;
use crate::model::keys;
use crate::yaml_log::Status;

/// An experiment of `E`: (global repetition, position).
pub(crate) type Node = (u64, usize);

/// What became of an experiment others wait for.
#[derive(Debug, Clone)]
enum End {
    Done {
        identity: Option<String>,
    },
    /// `failed`, `timeout`, `interrupted`, `skipped`.
    Not(&'static str),
}

/// May a waiting experiment start?
pub(crate) enum Readiness {
    /// Its waiting keys are evaluated: decide about this experiment.
    Ready(Mapping),
    /// Not yet: it waits for these.
    Wait(Vec<Node>),
    /// One it waits for did not end `done`: log it as skipped, with this error.
    Skip(String),
    /// It cannot run (a result still missing, a removed experiment, a bad
    /// expression): log it as failed, with this error.
    Fail(String),
}

/// How deep a chain of experiments from an earlier invocation is followed
/// in the store.
const MAX_STORED_CHAIN: usize = 64;

#[derive(Default)]
pub(crate) struct Dependencies {
    histories: Vec<History>,
    ended: HashMap<Node, End>,
    /// Looked up in the store and not there.
    not_stored: HashSet<Node>,
    /// Nothing runs and nothing else is pending: what has not ended never will.
    orphans: bool,
    /// Ended since the session last asked ([`Dependencies::take_ended`]).
    woken: Vec<Node>,
}

impl Dependencies {
    /// `histories`: `E` of each global repetition of the expansion.
    pub(crate) fn new(histories: Vec<History>) -> Self {
        Self {
            histories,
            ..Self::default()
        }
    }

    /// Until [`Dependencies::no_orphans`], an experiment that waits for
    /// one that has not ended fails.
    pub(crate) fn orphans(&mut self) {
        self.orphans = true;
    }

    /// Experiments wait again (after the pass over the orphans: a person
    /// may later add or move what they wait for).
    pub(crate) fn no_orphans(&mut self) {
        self.orphans = false;
    }

    /// Whether `doc` waits for earlier experiments (it is then decided by
    /// [`Dependencies::check`]).
    pub(crate) fn waits(doc: &Mapping) -> bool {
        doc.contains_key(keys::WAITS_FOR)
    }

    /// May `doc` (a queued experiment with `WAITS_FOR`) start?
    pub(crate) fn check(
        &mut self,
        doc: &Mapping,
        expander: &mut Expander<'_>,
        mut store: Option<&mut (dyn RunStore + '_)>,
    ) -> Readiness {
        let Some((at, mut parents)) = waits_for(doc) else {
            return Readiness::Fail(format!(
                "`{}` must be a mapping of positions in `E` and `{}` a position",
                keys::WAITS_FOR,
                keys::E_INDEX
            ));
        };
        let rep = global_rep(doc);
        if self
            .histories
            .get(rep as usize)
            .is_none_or(|h| at > h.len())
        {
            return Readiness::Fail(format!(
                "its history `E` is gone (`{}: {at}` is past the {} experiment(s) this run \
                 expanded): run it again with `--restart`",
                keys::E_INDEX,
                self.histories.get(rep as usize).map_or(0, History::len)
            ));
        }
        // Results found while evaluating are waited for too (a person's
        // edit, or a result read only once another one is known).
        for _ in 0..=MAX_STORED_CHAIN {
            if let Some(not_ready) = self.parents_ready(rep, &parents, expander, &mut store) {
                return not_ready;
            }
            let history = self.histories[rep as usize].view(at);
            match expander.evaluate_waiting(doc, history) {
                Ok(mut experiment) => {
                    self.after_ids(&mut experiment, rep, at);
                    return Readiness::Ready(experiment);
                }
                Err(Ok(awaited)) if !parents.contains(&awaited.at) => parents.push(awaited.at),
                Err(Ok(awaited)) => {
                    return Readiness::Fail(format!(
                        "a key waits for the result `{}` of E[{}], which ended without it",
                        awaited.key, awaited.at
                    ))
                }
                Err(Err(err)) => return Readiness::Fail(expansion_error(&err)),
            }
        }
        Readiness::Fail("it reads the results of too many experiments, one at a time".to_owned())
    }

    /// `None` if every parent ended `done`; else what to do now.
    fn parents_ready(
        &mut self,
        rep: u64,
        parents: &[usize],
        expander: &mut Expander<'_>,
        store: &mut Option<&mut (dyn RunStore + '_)>,
    ) -> Option<Readiness> {
        let mut waiting = Vec::new();
        for &parent in parents {
            let node = (rep, parent);
            if !self.ended.contains_key(&node) {
                self.look_up_stored(node, expander, store, 0);
            }
            match self.ended.get(&node) {
                Some(End::Done { .. }) => {}
                Some(End::Not(how)) => {
                    return Some(Readiness::Skip(format!(
                        "it waited for {}, which {how}",
                        self.describe(node)
                    )))
                }
                None if self.orphans => {
                    return Some(Readiness::Fail(format!(
                        "it waits for {}, which is neither pending nor finished (was it \
                         removed from the queue?)",
                        self.describe(node)
                    )))
                }
                None => waiting.push(node),
            }
        }
        (!waiting.is_empty()).then_some(Readiness::Wait(waiting))
    }

    /// `pretrain` (E[0]).
    pub(crate) fn describe(&self, (rep, at): Node) -> String {
        match self.histories.get(rep as usize).and_then(|h| h.name(at)) {
            Some(name) => format!("`{name}` (E[{at}])"),
            None => format!("E[{at}]"),
        }
    }

    /// An experiment this run has not seen end: a `done` run of it in the
    /// store (an earlier invocation) ends it now. One that waited itself is
    /// first evaluated with its own parents from the store.
    fn look_up_stored(
        &mut self,
        node: Node,
        expander: &mut Expander<'_>,
        store: &mut Option<&mut (dyn RunStore + '_)>,
        depth: usize,
    ) {
        if depth > MAX_STORED_CHAIN || self.not_stored.contains(&node) {
            return;
        }
        let Some(store) = store.as_deref_mut() else {
            return;
        };
        let history = &self.histories[node.0 as usize];
        let Some(mut config) = history.mapping(node.1) else {
            return;
        };
        if let Some((at, parents)) = waits_for(&config) {
            let mut again = Some(&mut *store);
            for parent in parents {
                let parent = (node.0, parent);
                if !self.ended.contains_key(&parent) {
                    self.look_up_stored(parent, expander, &mut again, depth + 1);
                }
            }
            let view = self.histories[node.0 as usize].view(at);
            match expander.evaluate_waiting(&config, view) {
                Ok(evaluated) => {
                    config = evaluated;
                    self.after_ids(&mut config, node.0, at);
                }
                Err(_) => {
                    self.not_stored.insert(node);
                    return;
                }
            }
        }
        match store.stored(&config) {
            Some((identity, Some(document))) => {
                self.histories[node.0 as usize].finish(node.1, &document);
                let identity = Some(identity);
                self.ended.insert(node, End::Done { identity });
            }
            _ => {
                self.not_stored.insert(node);
            }
        }
    }

    /// `After` makes an experiment's identity include those of the
    /// experiments it names (`AFTER_IDS`): it reruns when they do.
    fn after_ids(&self, experiment: &mut Mapping, rep: u64, at: usize) {
        let Ok(names) = crate::config::after_names(experiment) else {
            return;
        };
        if names.is_empty() {
            return;
        }
        let view = self.histories[rep as usize].view(at);
        let mut ids = Vec::new();
        for name in names {
            let identity = view
                .position_of(&name)
                .and_then(|p| match self.ended.get(&(rep, p)) {
                    Some(End::Done { identity }) => identity.clone(),
                    _ => None,
                });
            match identity {
                Some(identity) => ids.push(Value::from(identity)),
                None => return, // no store: nothing to key the cache on
            }
        }
        experiment.insert(Value::from(keys::AFTER_IDS), Value::Sequence(ids));
    }

    /// An experiment ended (logged with `status`; `document` its log
    /// document): if others wait for it, the node they wait for.
    pub(crate) fn ended(
        &mut self,
        experiment: &Mapping,
        status: Option<Status>,
        document: &Mapping,
        identity: Option<&str>,
    ) -> Option<Node> {
        let at = experiment.get(keys::E_INDEX)?.as_u64()? as usize;
        let node = (global_rep(experiment), at);
        let end = match status {
            None | Some(Status::Done) => {
                if let Some(history) = self.histories.get_mut(node.0 as usize) {
                    history.finish(at, document);
                }
                End::Done {
                    identity: identity.map(str::to_owned),
                }
            }
            Some(Status::Failed) => End::Not("failed"),
            Some(Status::Timeout) => End::Not("timed out"),
            Some(Status::Interrupted) => End::Not("was interrupted"),
            Some(Status::Skipped) => End::Not("was skipped"),
        };
        self.ended.insert(node, end);
        self.woken.push(node);
        Some(node)
    }

    /// The experiments others wait for that ended since the last call.
    pub(crate) fn take_ended(&mut self) -> Vec<Node> {
        std::mem::take(&mut self.woken)
    }

    /// An experiment with `Name: skip` ended without running.
    pub(crate) fn skipped(&mut self, experiment: &Mapping) -> Option<Node> {
        self.ended(experiment, Some(Status::Skipped), &Mapping::new(), None)
    }
}
