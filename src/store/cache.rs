//! `Cache`: the results store as the session's `RunStore` — identities,
//! cache look-ups, and a row per started module.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use yaml_serde::Mapping;

use super::db::Store;
use super::identity::{Fingerprint, Identifier, Identity};
use super::writer::{Message, OwnedEnding, Row, Writer};
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
    /// The writer thread, started with the first run recorded.
    writer: Option<Writer>,
    /// Log documents of `done` runs handed to the writer and maybe not
    /// written yet, by identity, with the sequence number of their end:
    /// the cache look-up sees them before they reach the store.
    unwritten: HashMap<String, (u64, Mapping)>,
    unwritten_order: VecDeque<(u64, String)>,
    /// Fingerprints handed to the writer in this run.
    saved: HashSet<String>,
    next_ticket: u64,
    /// Warnings for the recorder to pass on (the store was recreated).
    notes: Vec<String>,
    /// Set by whichever side (look-ups or the writer) first finds the
    /// store deleted, so that the person is told once.
    recreated: Arc<AtomicBool>,
}

impl Cache {
    pub fn new(store: Store, identifier: Identifier, rerun: bool, host: String) -> Self {
        Self {
            store,
            identifier,
            rerun,
            host,
            parts: HashMap::new(),
            writer: None,
            unwritten: HashMap::new(),
            unwritten_order: VecDeque::new(),
            saved: HashSet::new(),
            next_ticket: 0,
            notes: Vec::new(),
            recreated: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The store file deleted or emptied while the run goes on: warn once,
    /// create it again and record there from now on.
    fn recreate_if_gone(&mut self) {
        if !self.store.is_gone() {
            return;
        }
        let path = self.store.path().display().to_string();
        let reopened = self.store.reopen();
        // The writer thread may have found it first and said so.
        if reopened.is_ok() && self.recreated.swap(true, Ordering::AcqRel) {
            return;
        }
        self.notes.push(match reopened {
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
        self.forget_written();
        if let Some((_, document)) = self.unwritten.get(&identity.hash) {
            return Ok((identity, Some(document.clone())));
        }
        let cached = self
            .store
            .cached(&identity.hash)
            .map_err(|e| e.to_string())?;
        Ok((identity, cached))
    }

    /// Drop the documents that the store now has.
    fn forget_written(&mut self) {
        let Some(writer) = &self.writer else {
            return;
        };
        let written = writer.written();
        while let Some((seq, identity)) = self.unwritten_order.front() {
            if *seq >= written {
                break;
            }
            if self.unwritten.get(identity).is_some_and(|(s, _)| s == seq) {
                self.unwritten.remove(identity);
            }
            self.unwritten_order.pop_front();
        }
    }

    /// Wait until everything handed to the writer is in the store.
    pub(crate) fn sync(&mut self) {
        if let Some(writer) = self.writer.as_mut() {
            writer.sync();
        }
        self.forget_written();
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

    fn stored(&mut self, experiment: &Mapping) -> Option<(String, Option<Mapping>)> {
        let (identity, document) = self.check(experiment).ok()?;
        Some((identity.hash, document))
    }
}

impl Cache {
    /// A module started under `identity`: its row goes to the writer;
    /// returns its ticket.
    fn started(&mut self, identity: &str, started: &Started<'_>) -> Result<u64, String> {
        self.recreate_if_gone();
        let (parts, fingerprint) = self
            .parts
            .remove(identity)
            .unwrap_or_else(|| ("{}".to_owned(), None));
        let experiment = json(started.experiment)?;
        if started.id.starts_with("slurm:") {
            // A job followed again (`attach`, a rerun): its earlier
            // `running` row goes, this one stands for it.
            self.store
                .forget_running(&started.run_dir.display().to_string())
                .map_err(|e| e.to_string())?;
        }
        if self.writer.is_none() {
            self.writer = Some(Writer::start(
                self.store.path(),
                Arc::clone(&self.recreated),
            )?);
        }
        let writer = self.writer.as_mut().expect("started above");
        if let Some(fingerprint) = fingerprint {
            if self.saved.insert(fingerprint.digest.clone()) {
                writer.send(Message::Fingerprint(fingerprint));
            }
        }
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        let row = Row {
            identity: identity.to_owned(),
            index: started.index,
            name: started.name.to_owned(),
            started_at: rfc3339(&chrono::Local::now()),
            host: self.host.clone(),
            pid: started.id.to_owned(),
            slot: started.slot,
            experiment,
            parts,
            run_dir: Some(started.run_dir.display().to_string()),
            log_path: started.log.map(|p| p.display().to_string()),
        };
        writer.send(Message::Start(ticket, Box::new(row)));
        Ok(ticket)
    }

    /// The module of `ticket` (run under `identity`) ended.
    fn finished(
        &mut self,
        (ticket, identity): (u64, String),
        record: &Record,
        document: &Mapping,
    ) -> Result<(), String> {
        let ending = OwnedEnding {
            status: record.status.as_str().to_owned(),
            exit_code: record.exit_code,
            finished_at: rfc3339(&record.finished_at),
            elapsed: record.elapsed.as_secs_f64(),
            results: json(&record.results)?,
            document: json(document)?,
        };
        let Some(writer) = self.writer.as_mut() else {
            return Ok(());
        };
        let seq = writer.send(Message::End(ticket, Box::new(ending)));
        if record.status.as_str() == "done" {
            self.unwritten_order.push_back((seq, identity.clone()));
            self.unwritten.insert(identity, (seq, document.clone()));
        }
        Ok(())
    }

    fn errors(&self) -> Vec<String> {
        self.writer.as_ref().map(Writer::errors).unwrap_or_default()
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

    fn stored(&mut self, experiment: &Mapping) -> Option<(String, Option<Mapping>)> {
        self.0.borrow_mut().stored(experiment)
    }
}

/// Records started and finished modules in the store.
pub(crate) struct Recorder {
    cache: SharedCache,
    /// Ticket and identity of the running modules' rows, by job index.
    rows: HashMap<usize, (u64, String)>,
    warnings: Vec<String>,
}

impl Observer for Recorder {
    fn experiment_started(&mut self, started: &Started<'_>) {
        let Some(identity) = started.identity else {
            return;
        };
        match self.cache.0.borrow_mut().started(identity, started) {
            Ok(ticket) => {
                self.rows
                    .insert(started.index, (ticket, identity.to_owned()));
            }
            Err(err) => self.warnings.push(err),
        }
    }

    fn experiment_finished(&mut self, record: &Record, document: &Mapping) {
        let Some(row) = self.rows.remove(&record.index) else {
            return;
        };
        if let Err(err) = self.cache.0.borrow_mut().finished(row, record, document) {
            self.warnings.push(err);
        }
    }

    fn attempt_failed(&mut self, record: &Record, document: &Mapping) {
        self.experiment_finished(record, document);
    }

    fn queue_finished(&mut self, _summary: &crate::runner::Summary) {
        // Everything is in the store before the run reports its end.
        self.cache.0.borrow_mut().sync();
    }

    fn warnings(&mut self) -> Vec<String> {
        let mut warnings = std::mem::take(&mut self.cache.0.borrow_mut().notes);
        warnings.append(&mut self.warnings);
        warnings.extend(self.cache.0.borrow().errors());
        warnings
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
            scheduler: Mapping::new(),
        }
    }

    #[test]
    fn rows_go_to_the_writer_and_the_cache_sees_them_before_they_are_written() {
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
        // Maybe not written yet: the look-up sees it all the same.
        let cached =
            |shared: &SharedCache| matches!(shared.clone().lookup(&experiment), Lookup::Cached(_));
        assert!(cached(&shared));
        shared.0.borrow_mut().sync();
        assert!(open().store.cached(&identity).unwrap().is_some());
        assert!(shared.0.borrow().unwritten.is_empty());
        assert!(cached(&shared));
        assert!(recorder.warnings().is_empty());
    }
}
