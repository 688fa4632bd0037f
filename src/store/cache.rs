//! `Cache`: the results store as the session's `RunStore` — identities,
//! cache look-ups, and a row per started module.

use std::collections::HashMap;

use yaml_serde::Mapping;

use super::db::{Ending, NewRun, Store};
use super::identity::{Identifier, Identity};
use crate::executor::Job;
use crate::runner::{Lookup, RunStore};
use crate::yaml_log::{rfc3339, Record};

pub(crate) struct Cache {
    store: Store,
    identifier: Identifier,
    /// `--rerun`: record runs, but never skip one.
    rerun: bool,
    host: String,
    /// Identity parts of experiments about to start (JSON), by identity.
    parts: HashMap<String, String>,
}

impl Cache {
    pub(crate) fn new(store: Store, identifier: Identifier, rerun: bool, host: String) -> Self {
        Self {
            store,
            identifier,
            rerun,
            host,
            parts: HashMap::new(),
        }
    }

    /// Identity and cached document of `experiment` (no side effects).
    pub(crate) fn check(
        &mut self,
        experiment: &Mapping,
    ) -> Result<(Identity, Option<Mapping>), String> {
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

    fn started(
        &mut self,
        identity: &str,
        job: &Job,
        pid: &str,
        slot: usize,
    ) -> Result<Option<i64>, String> {
        let parts = self
            .parts
            .remove(identity)
            .unwrap_or_else(|| "{}".to_owned());
        let experiment = serde_json::to_string(&job.experiment).map_err(|e| e.to_string())?;
        let run_dir = job.run_dir.display().to_string();
        let log = job
            .experiment
            .get("YamlLog")
            .and_then(yaml_serde::Value::as_str)
            .map(str::to_owned);
        let id = self
            .store
            .insert(&NewRun {
                identity,
                index: job.index,
                name: &job.name,
                started_at: &rfc3339(&chrono::Local::now()),
                host: &self.host,
                pid,
                slot,
                experiment: &experiment,
                parts: &parts,
                run_dir: Some(&run_dir),
                log_path: log.as_deref(),
            })
            .map_err(|e| e.to_string())?;
        Ok(Some(id))
    }

    fn finished(
        &mut self,
        row: Option<i64>,
        _identity: &str,
        record: &Record,
    ) -> Result<(), String> {
        let Some(id) = row else { return Ok(()) };
        let results = serde_json::to_string(&record.results).map_err(|e| e.to_string())?;
        let document = serde_json::to_string(&record.document()).map_err(|e| e.to_string())?;
        self.store
            .finish(
                id,
                &Ending {
                    status: record.status.as_str(),
                    exit_code: record.exit_code,
                    finished_at: &rfc3339(&record.finished_at),
                    elapsed: record.elapsed.as_secs_f64(),
                    results: &results,
                    document: &document,
                },
            )
            .map_err(|e| e.to_string())
    }
}
