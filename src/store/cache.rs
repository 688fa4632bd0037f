//! `Cache`: the results store as the session's `RunStore` — identities,
//! cache look-ups, and a row per started module.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use yaml_serde::Mapping;

use super::db::{Ending, NewRun, Store};
use super::identity::{Identifier, Identity};
use crate::runner::{Lookup, Observer, RunStore, Started};
use crate::yaml_log::{rfc3339, Record};

pub struct Cache {
    store: Store,
    identifier: Identifier,
    /// `--rerun`: record runs, but never skip one.
    rerun: bool,
    host: String,
    /// Identity parts of experiments about to start (JSON), by identity.
    parts: HashMap<String, String>,
    /// Warnings for the recorder to pass on (the store was recreated).
    notes: Vec<String>,
}

impl Cache {
    pub fn new(store: Store, identifier: Identifier, rerun: bool, host: String) -> Self {
        Self {
            store,
            identifier,
            rerun,
            host,
            parts: HashMap::new(),
            notes: Vec::new(),
        }
    }

    /// The store file deleted or emptied while the run goes on: warn once,
    /// create it again and record there from now on.
    fn recreate_if_gone(&mut self) {
        if !self.store.is_gone() {
            return;
        }
        let path = self.store.path().display().to_string();
        self.notes.push(match self.store.reopen() {
            Ok(()) => format!(
                "the results store `{path}` was deleted or emptied during the run: \
                 created it again; results are recorded there from now on"
            ),
            Err(err) => format!("the results store `{path}` was deleted or emptied: {err}"),
        });
    }

    /// Identity and cached document of `experiment` (no side effects).
    pub fn check(&mut self, experiment: &Mapping) -> Result<(Identity, Option<Mapping>), String> {
        self.recreate_if_gone();
        let identity = self.identifier.identify(experiment)?;
        let cached = self
            .store
            .cached(&identity.hash)
            .map_err(|e| e.to_string())?;
        Ok((identity, cached))
    }
}

impl RunStore for Cache {
    fn lookup(&mut self, experiment: &Mapping) -> Lookup {
        match self.check(experiment) {
            Ok((_, Some(document))) if !self.rerun => Lookup::Cached(document),
            Ok((identity, _)) => {
                self.parts
                    .insert(identity.hash.clone(), identity.parts.to_string());
                Lookup::Run(identity.hash)
            }
            Err(err) => Lookup::Unknown(format!(
                "cannot check the result cache ({err}); running the experiment"
            )),
        }
    }
}

impl Cache {
    /// A module started under `identity`: its row in the store.
    fn started(&mut self, identity: &str, started: &Started<'_>) -> Result<i64, String> {
        self.recreate_if_gone();
        let parts = self
            .parts
            .remove(identity)
            .unwrap_or_else(|| "{}".to_owned());
        let experiment = json(started.experiment)?;
        let run_dir = started.run_dir.display().to_string();
        let log = started.log.map(|p| p.display().to_string());
        if started.id.starts_with("slurm:") {
            self.store
                .forget_running(&run_dir)
                .map_err(|e| e.to_string())?;
        }
        self.store
            .insert(&NewRun {
                identity,
                index: started.index,
                name: started.name,
                started_at: &rfc3339(&chrono::Local::now()),
                host: &self.host,
                pid: started.id,
                slot: started.slot,
                experiment: &experiment,
                parts: &parts,
                run_dir: Some(&run_dir),
                log_path: log.as_deref(),
            })
            .map_err(|e| e.to_string())
    }

    /// The module of store row `id` (identity `identity`) ended. A row
    /// lost with a deleted store is written again, from the record.
    fn finished(
        &mut self,
        (id, identity): (i64, &str),
        record: &Record,
        document: &Mapping,
    ) -> Result<(), String> {
        self.recreate_if_gone();
        let results = json(&record.results)?;
        let document = json(document)?;
        let ending = Ending {
            status: record.status.as_str(),
            exit_code: record.exit_code,
            finished_at: &rfc3339(&record.finished_at),
            elapsed: record.elapsed.as_secs_f64(),
            results: &results,
            document: &document,
        };
        if self.store.finish(id, &ending).map_err(|e| e.to_string())? {
            return Ok(());
        }
        let experiment = json(&record.experiment)?;
        let run_dir = record.run_dir.as_ref().map(|p| p.display().to_string());
        let log = record.log.as_ref().map(|p| p.display().to_string());
        let row = self
            .store
            .insert(&NewRun {
                identity,
                index: record.index,
                name: &record.name,
                started_at: &rfc3339(&record.started_at),
                host: &self.host,
                pid: "",
                slot: 0,
                experiment: &experiment,
                parts: "{}",
                run_dir: run_dir.as_deref(),
                log_path: log.as_deref(),
            })
            .map_err(|e| e.to_string())?;
        self.store
            .finish(row, &ending)
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

/// JSON for a column, with the runner's secrets redacted.
fn json(value: &Mapping) -> Result<String, String> {
    let text = serde_json::to_string(value).map_err(|e| e.to_string())?;
    Ok(crate::secrets::redact(&text).into_owned())
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
    /// Store rows and identities of the running modules, by job index.
    rows: HashMap<usize, (i64, String)>,
    warnings: Vec<String>,
}

impl Observer for Recorder {
    fn experiment_started(&mut self, started: &Started<'_>) {
        let Some(identity) = started.identity else {
            return;
        };
        match self.cache.0.borrow_mut().started(identity, started) {
            Ok(row) => {
                self.rows.insert(started.index, (row, identity.to_owned()));
            }
            Err(err) => self.warnings.push(err),
        }
    }

    fn experiment_finished(&mut self, record: &Record, document: &Mapping) {
        if let Some((row, identity)) = self.rows.remove(&record.index) {
            let finished = self
                .cache
                .0
                .borrow_mut()
                .finished((row, &identity), record, document);
            if let Err(err) = finished {
                self.warnings.push(err);
            }
        }
    }

    fn attempt_failed(&mut self, record: &Record, document: &Mapping) {
        self.experiment_finished(record, document);
    }

    fn warnings(&mut self) -> Vec<String> {
        let mut warnings = std::mem::take(&mut self.cache.0.borrow_mut().notes);
        warnings.append(&mut self.warnings);
        warnings
    }
}
