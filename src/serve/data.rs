//! What the server knows of the store: every run, parsed once, kept in
//! memory in id order and followed incrementally (new rows by id, and the
//! rows that were running), so that a query over 100,000 runs never goes
//! back to SQLite or parses JSON again.

use std::sync::Arc;

use indexmap::IndexMap;
use yaml_serde::{Mapping, Value};

use crate::model::keys;
use crate::store::StoredRun;

/// One run, as the page and the API show it.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub(crate) id: i64,
    pub(crate) index: i64,
    pub(crate) name: String,
    pub(crate) status: String,
    pub(crate) exit_code: Option<i64>,
    pub(crate) started_at: String,
    pub(crate) finished_at: Option<String>,
    pub(crate) elapsed: Option<f64>,
    pub(crate) host: String,
    pub(crate) pid: Option<String>,
    pub(crate) runner_pid: i64,
    pub(crate) slot: Option<i64>,
    pub(crate) dir: Option<String>,
    /// The log document once it ended, else the expanded experiment.
    pub(crate) doc: Mapping,
    /// Whether an aggregation counts it: its document's `STATUS` is
    /// `done` (or missing, as `filter` counts documents of other tools).
    pub(crate) counted: bool,
    /// The hash of its document's `RUN_DIR` (copies of a run share it).
    pub(crate) dir_hash: Option<u64>,
    /// Its document's top-level values, compact ([`super::compact`]).
    pub(crate) cells: Box<[(super::compact::KeyId, super::compact::Cell)]>,
}

impl Run {
    pub(crate) fn from_stored(row: StoredRun) -> Self {
        let text = row.document.as_deref().unwrap_or(&row.experiment);
        let doc = serde_json::from_str::<Mapping>(text).unwrap_or_default();
        let (counted, dir_hash) = Self::aggregation_keys(&doc);
        Self {
            counted,
            dir_hash,
            cells: super::compact::cells(&doc),
            id: row.id,
            index: row.index,
            name: row.name,
            status: row.status,
            exit_code: row.exit_code,
            started_at: row.started_at,
            finished_at: row.finished_at,
            elapsed: row.elapsed,
            host: row.host,
            pid: row.pid,
            runner_pid: row.runner_pid,
            slot: row.slot,
            dir: row.run_dir,
            doc,
        }
    }

    /// [`Run::counted`] and [`Run::dir_hash`] of a document.
    pub(crate) fn aggregation_keys(doc: &Mapping) -> (bool, Option<u64>) {
        use std::hash::{Hash, Hasher};
        let counted = match doc.get(keys::STATUS) {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s == "done",
            Some(_) => false,
        };
        let dir_hash = match doc.get(keys::RUN_DIR) {
            Some(Value::String(dir)) => {
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                dir.hash(&mut hasher);
                Some(hasher.finish())
            }
            _ => None,
        };
        (counted, dir_hash)
    }

    pub(crate) fn is_running(&self) -> bool {
        self.status == "running"
    }
}

/// Which group of columns a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Lower-case keys of the experiment (and `Name`-like input keys).
    Parameter,
    /// UPPER-CASE keys the module wrote.
    Result,
    /// Keys the runner writes (`STATUS`, `RUN_DIR`, `REP`, ...) and the
    /// runner's input keys (`Module`, `YamlLog`, ...).
    Runner,
}

pub(crate) fn kind_of(key: &str) -> Kind {
    if keys::is_runner_written(key) || keys::INPUT_KEYS.contains(&key) {
        Kind::Runner
    } else if keys::is_upper_case(key) {
        Kind::Result
    } else {
        Kind::Parameter
    }
}

/// All runs of the store, in id order.
#[derive(Debug, Default)]
pub(crate) struct Runs {
    all: Vec<Arc<Run>>,
    /// Ids of the runs marked `running`.
    running: Vec<i64>,
    /// Top-level keys of the finished runs' documents, with how many
    /// documents have them, in first-seen order.
    keys: IndexMap<String, usize>,
    counts: IndexMap<String, usize>,
    /// The finished runs in the order they finished (ids ascending after a
    /// rebuild): queries kept up to date read only the runs past where
    /// they stopped.
    finished: Vec<Arc<Run>>,
    /// Changed when a finished run changed or went away: whatever was
    /// computed from [`Runs::finished`] must start again.
    epoch: u64,
    /// Changed by every change: answers computed from these runs are
    /// cached under it.
    generation: u64,
}

/// Numbers no two [`Runs`] share: what was computed from one set of runs
/// (answers, selections) is never taken for another's, even after the
/// store was replaced and read again from scratch.
fn next_stamp() -> u64 {
    static STAMP: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    STAMP.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Runs {
    /// No runs yet, with stamps of its own.
    pub(crate) fn fresh() -> Self {
        Self {
            generation: next_stamp(),
            epoch: next_stamp(),
            ..Self::default()
        }
    }

    pub(crate) fn all(&self) -> &[Arc<Run>] {
        &self.all
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// The finished runs, in the order they finished since
    /// [`Runs::epoch`] changed last.
    pub(crate) fn finished(&self) -> &[Arc<Run>] {
        &self.finished
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    pub(crate) fn max_id(&self) -> i64 {
        self.all.last().map_or(0, |r| r.id)
    }

    pub(crate) fn running_ids(&self) -> &[i64] {
        &self.running
    }

    pub(crate) fn running(&self) -> impl Iterator<Item = &Arc<Run>> {
        self.running.iter().filter_map(|id| self.get(*id))
    }

    pub(crate) fn get(&self, id: i64) -> Option<&Arc<Run>> {
        self.all
            .binary_search_by_key(&id, |r| r.id)
            .ok()
            .map(|i| &self.all[i])
    }

    /// Runs by status, most frequent first.
    pub(crate) fn counts(&self) -> Vec<(&str, usize)> {
        let mut counts: Vec<(&str, usize)> =
            self.counts.iter().map(|(s, n)| (s.as_str(), *n)).collect();
        counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        counts
    }

    /// Top-level keys of finished runs of one kind, in first-seen order.
    pub(crate) fn keys_of(&self, kind: Kind) -> Vec<&str> {
        self.keys
            .keys()
            .map(String::as_str)
            .filter(|k| kind_of(k) == kind)
            .collect()
    }

    /// Add new runs (ids above [`Runs::max_id`]) and replace known ones.
    pub(crate) fn apply(&mut self, rows: Vec<Run>) {
        self.generation = next_stamp();
        let mut rebuild = false;
        for run in rows {
            let run = Arc::new(run);
            match self.all.binary_search_by_key(&run.id, |r| r.id) {
                Ok(at) => {
                    let old = std::mem::replace(&mut self.all[at], Arc::clone(&run));
                    rebuild |= !old.is_running();
                    self.forget(&old);
                }
                Err(at) => self.all.insert(at, Arc::clone(&run)),
            }
            if !run.is_running() {
                self.finished.push(Arc::clone(&run));
            }
            self.count(&run);
        }
        if rebuild {
            self.epoch = next_stamp();
            self.finished = self
                .all
                .iter()
                .filter(|r| !r.is_running())
                .cloned()
                .collect();
        }
    }

    fn count(&mut self, run: &Run) {
        *self.counts.entry(run.status.clone()).or_default() += 1;
        if run.is_running() {
            self.running.push(run.id);
            self.running.sort_unstable();
            return;
        }
        for key in run.doc.keys() {
            if let Value::String(key) = key {
                if let Some(n) = self.keys.get_mut(key.as_str()) {
                    *n += 1;
                } else {
                    self.keys.insert(key.clone(), 1);
                }
            }
        }
    }

    fn forget(&mut self, run: &Run) {
        if let Some(n) = self.counts.get_mut(&run.status) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.counts.shift_remove(&run.status);
            }
        }
        if run.is_running() {
            self.running.retain(|id| *id != run.id);
            return;
        }
        for key in run.doc.keys() {
            if let Value::String(key) = key {
                if let Some(n) = self.keys.get_mut(key.as_str()) {
                    *n = n.saturating_sub(1);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: i64, status: &str, doc: &str) -> Run {
        Run {
            id,
            index: id,
            name: format!("r{id}"),
            status: status.to_owned(),
            exit_code: None,
            started_at: String::new(),
            finished_at: None,
            elapsed: None,
            host: "h".to_owned(),
            pid: None,
            runner_pid: 1,
            slot: None,
            dir: None,
            doc: yaml_serde::from_str(doc).unwrap(),
            counted: true,
            dir_hash: None,
            cells: Box::default(),
        }
    }

    #[test]
    fn follows_runs_that_finish() {
        let mut runs = Runs::fresh();
        runs.apply(vec![
            run(1, "done", "{lr: 1, ACC: 2, STATUS: done}"),
            run(2, "running", "{lr: 2}"),
        ]);
        assert_eq!(runs.running_ids(), [2]);
        assert_eq!(runs.keys_of(Kind::Parameter), ["lr"]);
        assert_eq!(runs.keys_of(Kind::Result), ["ACC"]);
        runs.apply(vec![run(2, "failed", "{lr: 2, LOSS: 1}")]);
        assert!(runs.running_ids().is_empty());
        assert_eq!(runs.counts(), [("done", 1), ("failed", 1)]);
        assert_eq!(runs.keys_of(Kind::Result), ["ACC", "LOSS"]);
        assert_eq!(runs.get(2).unwrap().status, "failed");
        assert_eq!(runs.max_id(), 2);
        let finished = |runs: &Runs| runs.finished().iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(finished(&runs), [1, 2]);
        let epoch = runs.epoch();
        runs.apply(vec![run(3, "done", "{}")]);
        assert_eq!(runs.epoch(), epoch, "a run that finished is added");
        runs.apply(vec![run(1, "failed", "{}")]);
        assert_ne!(runs.epoch(), epoch, "a finished run changed: start again");
        assert_ne!(Runs::fresh().epoch(), runs.epoch());
        assert_eq!(finished(&runs), [1, 2, 3]);
    }
}
