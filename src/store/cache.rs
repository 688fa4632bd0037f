//! `Cache`: the results store as the session's `RunStore` — identities,
//! cache look-ups, and a row per started module.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;

use yaml_serde::Mapping;

use super::db::{Ending, NewRun, Store, StoreError};
use super::identity::{Fingerprint, Identifier, Identity};
use crate::runner::{Lookup, Observer, RunStore, Started};
use crate::yaml_log::{rfc3339, Record};

pub struct Cache {
    store: Store,
    identifier: Identifier,
    /// `--rerun`: record runs, but never skip one.
    rerun: bool,
    host: String,
    /// Identity parts (JSON) and fingerprint of experiments about to start,
    /// by identity.
    parts: HashMap<String, (String, Option<Arc<Fingerprint>>)>,
    /// Writes waiting for the next checkpoint ([`Cache::flush`]).
    pending: Pending,
}

/// Rows started or ended since the last flush: written in one transaction
/// at the session's checkpoint (group commit with the log), not one each.
#[derive(Default)]
struct Pending {
    /// Rows not inserted yet, by ticket, in start order.
    rows: Vec<(u64, Row)>,
    /// Endings of rows inserted already, by row id.
    endings: Vec<(i64, OwnedEnding)>,
    /// Row id and identity of each ticket inserted but not ended yet.
    inserted: HashMap<u64, (i64, String)>,
    /// Log documents of `done` runs not written yet, by identity: the cache
    /// look-up sees them before they reach the store.
    done: HashMap<String, Mapping>,
    /// Fingerprints to save, and those saved (or queued) in this run.
    fingerprints: Vec<Arc<Fingerprint>>,
    saved: HashSet<String>,
    next_ticket: u64,
}

/// A started run, owned until it is written.
struct Row {
    identity: String,
    index: usize,
    name: String,
    started_at: String,
    pid: String,
    slot: usize,
    experiment: String,
    parts: String,
    run_dir: Option<String>,
    log_path: Option<String>,
    ending: Option<OwnedEnding>,
}

struct OwnedEnding {
    status: String,
    exit_code: Option<i32>,
    finished_at: String,
    elapsed: f64,
    results: String,
    document: String,
}

impl OwnedEnding {
    fn borrowed(&self) -> Ending<'_> {
        Ending {
            status: &self.status,
            exit_code: self.exit_code,
            finished_at: &self.finished_at,
            elapsed: self.elapsed,
            results: &self.results,
            document: &self.document,
        }
    }
}

impl Cache {
    pub fn new(store: Store, identifier: Identifier, rerun: bool, host: String) -> Self {
        Self {
            store,
            identifier,
            rerun,
            host,
            parts: HashMap::new(),
            pending: Pending::default(),
        }
    }

    /// Identity and cached document of `experiment` (no side effects).
    pub fn check(&mut self, experiment: &Mapping) -> Result<(Identity, Option<Mapping>), String> {
        let identity = self.identifier.identify(experiment)?;
        if let Some(document) = self.pending.done.get(&identity.hash) {
            return Ok((identity, Some(document.clone())));
        }
        let cached = self
            .store
            .cached(&identity.hash)
            .map_err(|e| e.to_string())?;
        Ok((identity, cached))
    }

    /// Write what is pending in one transaction.
    pub(crate) fn flush(&mut self) -> Result<(), StoreError> {
        let pending = &mut self.pending;
        if pending.rows.is_empty() && pending.endings.is_empty() && pending.fingerprints.is_empty()
        {
            return Ok(());
        }
        let rows = std::mem::take(&mut pending.rows);
        let endings = std::mem::take(&mut pending.endings);
        let fingerprints = std::mem::take(&mut pending.fingerprints);
        let host = &self.host;
        let inserted = self.store.transaction(|store| {
            for fingerprint in &fingerprints {
                store.save_fingerprint(&fingerprint.digest, &fingerprint.files)?;
            }
            let mut inserted = Vec::new();
            for (ticket, row) in &rows {
                let id = store.insert(&NewRun {
                    identity: &row.identity,
                    index: row.index,
                    name: &row.name,
                    started_at: &row.started_at,
                    host,
                    pid: &row.pid,
                    slot: row.slot,
                    experiment: &row.experiment,
                    parts: &row.parts,
                    run_dir: row.run_dir.as_deref(),
                    log_path: row.log_path.as_deref(),
                })?;
                match &row.ending {
                    Some(ending) => store.finish(id, &ending.borrowed())?,
                    None => inserted.push((*ticket, (id, row.identity.clone()))),
                }
            }
            for (id, ending) in &endings {
                store.finish(*id, &ending.borrowed())?;
            }
            Ok(inserted)
        })?;
        self.pending.inserted.extend(inserted);
        self.pending.done.clear();
        Ok(())
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        // The session flushes at its end; this covers any other way out.
        let _ = self.flush();
    }
}

impl RunStore for Cache {
    fn lookup(&mut self, experiment: &Mapping) -> Lookup {
        match self.check(experiment) {
            Ok((_, Some(document))) if !self.rerun => Lookup::Cached(document),
            Ok((identity, _)) => {
                self.parts.insert(
                    identity.hash.clone(),
                    (identity.parts.to_string(), identity.fingerprint),
                );
                Lookup::Run(identity.hash)
            }
            Err(err) => Lookup::Unknown(format!(
                "cannot check the result cache ({err}); running the experiment"
            )),
        }
    }
}

impl Cache {
    /// A module started under `identity`: its row, written at the next
    /// flush; returns its ticket.
    fn started(&mut self, identity: &str, started: &Started<'_>) -> Result<u64, String> {
        let (parts, fingerprint) = self
            .parts
            .remove(identity)
            .unwrap_or_else(|| ("{}".to_owned(), None));
        if let Some(fingerprint) = fingerprint {
            if self.pending.saved.insert(fingerprint.digest.clone()) {
                self.pending.fingerprints.push(fingerprint);
            }
        }
        let experiment = serde_json::to_string(started.experiment).map_err(|e| e.to_string())?;
        let ticket = self.pending.next_ticket;
        self.pending.next_ticket += 1;
        self.pending.rows.push((
            ticket,
            Row {
                identity: identity.to_owned(),
                index: started.index,
                name: started.name.to_owned(),
                started_at: rfc3339(&chrono::Local::now()),
                pid: started.id.to_owned(),
                slot: started.slot,
                experiment,
                parts,
                run_dir: Some(started.run_dir.display().to_string()),
                log_path: started.log.map(|p| p.display().to_string()),
                ending: None,
            },
        ));
        Ok(ticket)
    }

    /// The module of `ticket` ended.
    fn finished(&mut self, ticket: u64, record: &Record, document: &Mapping) -> Result<(), String> {
        let ending = OwnedEnding {
            status: record.status.as_str().to_owned(),
            exit_code: record.exit_code,
            finished_at: rfc3339(&record.finished_at),
            elapsed: record.elapsed.as_secs_f64(),
            results: serde_json::to_string(&record.results).map_err(|e| e.to_string())?,
            document: serde_json::to_string(document).map_err(|e| e.to_string())?,
        };
        let pending = &mut self.pending;
        let identity = if let Some((id, identity)) = pending.inserted.remove(&ticket) {
            pending.endings.push((id, ending));
            identity
        } else if let Some((_, row)) = pending.rows.iter_mut().rev().find(|(t, _)| *t == ticket) {
            let identity = row.identity.clone();
            row.ending = Some(ending);
            identity
        } else {
            return Ok(());
        };
        if record.status.as_str() == "done" {
            pending.done.insert(identity, document.clone());
        }
        Ok(())
    }
}

/// The store's side of a run: looks up the cache for admission and, as an
/// observer, records a row per started module and its end. The session
/// holds one handle (for look-ups) and the observers another.
#[derive(Clone)]
pub(crate) struct SharedCache(Rc<RefCell<Cache>>);

impl SharedCache {
    pub(crate) fn new(cache: Cache) -> Self {
        Self(Rc::new(RefCell::new(cache)))
    }

    /// The observer that records runs in the store.
    pub(crate) fn recorder(&self) -> Recorder {
        Recorder {
            cache: self.clone(),
            rows: HashMap::new(),
            warnings: Vec::new(),
        }
    }
}

impl RunStore for SharedCache {
    fn lookup(&mut self, experiment: &Mapping) -> Lookup {
        self.0.borrow_mut().lookup(experiment)
    }
}

/// Records started and finished modules in the store.
pub(crate) struct Recorder {
    cache: SharedCache,
    /// Tickets of the running modules' rows, by job index.
    rows: HashMap<usize, u64>,
    warnings: Vec<String>,
}

impl Observer for Recorder {
    fn experiment_started(&mut self, started: &Started<'_>) {
        let Some(identity) = started.identity else {
            return;
        };
        match self.cache.0.borrow_mut().started(identity, started) {
            Ok(row) => {
                self.rows.insert(started.index, row);
            }
            Err(err) => self.warnings.push(err),
        }
    }

    fn experiment_finished(&mut self, record: &Record, document: &Mapping) {
        let Some(row) = self.rows.remove(&record.index) else {
            return;
        };
        let mut cache = self.cache.0.borrow_mut();
        if let Err(err) = cache.finished(row, record, document) {
            self.warnings.push(err);
        }
        // The session checkpoints shortly after any start; with no start
        // since the last checkpoint none may come for a long time, and
        // `status` in another process would not see this run end.
        if cache.pending.rows.is_empty() {
            if let Err(err) = cache.flush() {
                self.warnings.push(err.to_string());
            }
        }
    }

    fn checkpoint(&mut self) {
        if let Err(err) = self.cache.0.borrow_mut().flush() {
            self.warnings.push(err.to_string());
        }
    }

    fn warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml_log::Status;

    fn record(index: usize, experiment: &Mapping) -> Record {
        let now = chrono::Local::now();
        Record {
            index,
            name: "a".to_owned(),
            experiment: experiment.clone(),
            results: Mapping::new(),
            status: Status::Done,
            exit_code: Some(0),
            signal: None,
            started_at: now,
            finished_at: now,
            elapsed: std::time::Duration::ZERO,
            run_dir: None,
            error: None,
            stderr_tail: None,
            log: None,
        }
    }

    #[test]
    fn rows_wait_for_the_checkpoint_and_the_cache_sees_them_before() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite");
        let open = || {
            Cache::new(
                Store::open(&path).unwrap(),
                Identifier::default(),
                false,
                "h".into(),
            )
        };
        let shared = SharedCache::new(open());
        let mut recorder = shared.recorder();
        let experiment: Mapping = yaml_serde::from_str("Name: a\nx: 1\n").unwrap();
        let Lookup::Run(identity) = shared.clone().lookup(&experiment) else {
            panic!("nothing is cached yet");
        };
        let run_dir = dir.path().join("run");
        recorder.experiment_started(&Started {
            index: 0,
            name: "a",
            run_dir: &run_dir,
            id: "1",
            pending: 0,
            slot: 0,
            running: 1,
            experiment: &experiment,
            identity: Some(&identity),
            log: None,
        });
        let document = record(0, &experiment).document();
        recorder.experiment_finished(&record(0, &experiment), &document);
        // Not written yet: another connection does not see it, this one does.
        assert_eq!(open().store.cached(&identity).unwrap(), None);
        assert!(matches!(
            shared.clone().lookup(&experiment),
            Lookup::Cached(_)
        ));
        recorder.checkpoint();
        assert!(open().store.cached(&identity).unwrap().is_some());
        assert!(recorder.warnings().is_empty());
    }
}
