//! The store's writer thread: rows started and ended are handed over and
//! written in one transaction per batch (every [`INTERVAL`], or [`MAX_BATCH`]
//! messages), on a connection of its own, off the session's thread. A run
//! whose end arrives in the same batch as its start is one `INSERT`.
//!
//! Crash safety: a `kill -9` loses what was not committed yet (at most one
//! interval of rows), never the store's integrity (SQLite transactions).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::db::{Ending, NewRun, Store};
use super::identity::Fingerprint;

/// The longest a handed-over row waits before it is written.
pub(crate) const INTERVAL: Duration = Duration::from_millis(100);
/// Messages that make a batch written at once.
const MAX_BATCH: usize = 512;

/// A started run, owned until it is written.
pub(crate) struct Row {
    pub identity: String,
    pub index: usize,
    pub name: String,
    pub started_at: String,
    pub host: String,
    pub pid: String,
    pub slot: usize,
    pub experiment: String,
    pub parts: String,
    pub run_dir: Option<String>,
    pub log_path: Option<String>,
}

pub(crate) struct OwnedEnding {
    pub status: String,
    pub exit_code: Option<i32>,
    pub finished_at: String,
    pub elapsed: f64,
    pub results: String,
    pub document: String,
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

/// What the session hands over; `u64` is the run's ticket, in start order.
pub(crate) enum Message {
    Start(u64, Box<Row>),
    End(u64, Box<OwnedEnding>),
    Fingerprint(Arc<Fingerprint>),
    /// Write now and answer.
    Sync(mpsc::Sender<()>),
}

/// The session's handle on the writer thread.
pub(crate) struct Writer {
    tx: Option<mpsc::Sender<Message>>,
    handle: Option<JoinHandle<()>>,
    /// Messages sent so far.
    sent: u64,
    /// Messages written so far (or failed: they are not retried).
    written: Arc<AtomicU64>,
    errors: Arc<Mutex<Vec<String>>>,
}

impl Writer {
    /// Start the thread, with its own connection to the store at `path`.
    ///
    /// `recreated` is shared with the look-up side: whichever finds the store
    /// deleted first tells the person.
    pub(crate) fn start(path: &Path, recreated: Arc<AtomicBool>) -> Result<Self, String> {
        let store = Store::open(path).map_err(|e| e.to_string())?;
        let (tx, rx) = mpsc::channel();
        let written = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let mut thread = Thread {
            store,
            running: HashMap::new(),
            recreated,
            seen: 0,
            written: Arc::clone(&written),
            errors: Arc::clone(&errors),
        };
        let handle = std::thread::Builder::new()
            .name("store-writer".to_owned())
            .spawn(move || thread.run(&rx))
            .map_err(|e| e.to_string())?;
        Ok(Self {
            tx: Some(tx),
            handle: Some(handle),
            sent: 0,
            written,
            errors,
        })
    }

    /// Hand `message` over; returns its sequence number.
    pub(crate) fn send(&mut self, message: Message) -> u64 {
        if let Some(tx) = &self.tx {
            let _ = tx.send(message);
        }
        self.sent += 1;
        self.sent - 1
    }

    /// Messages below this sequence number are written.
    pub(crate) fn written(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    /// Write everything handed over so far, and wait for it.
    pub(crate) fn sync(&mut self) {
        let (tx, rx) = mpsc::channel();
        self.send(Message::Sync(tx));
        let _ = rx.recv();
    }

    /// Failures since the last call.
    pub(crate) fn errors(&self) -> Vec<String> {
        std::mem::take(
            &mut *self
                .errors
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the channel makes the thread write what is left and end.
        self.tx = None;
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

struct Thread {
    store: Store,
    /// Each running ticket's row, and its id once written as `running`
    /// (kept to write it again into a store deleted during the run).
    running: HashMap<u64, (Option<i64>, Box<Row>)>,
    recreated: Arc<AtomicBool>,
    /// Messages received so far.
    seen: u64,
    written: Arc<AtomicU64>,
    errors: Arc<Mutex<Vec<String>>>,
}

impl Thread {
    fn run(&mut self, rx: &mpsc::Receiver<Message>) {
        let mut batch = Vec::new();
        let mut deadline = Instant::now();
        loop {
            let message = if batch.is_empty() {
                rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected)
            } else {
                rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            };
            if message.is_ok() {
                self.seen += 1;
            }
            match message {
                Ok(Message::Sync(done)) => {
                    self.write(std::mem::take(&mut batch));
                    let _ = done.send(());
                }
                Ok(message) => {
                    if batch.is_empty() {
                        deadline = Instant::now() + INTERVAL;
                    }
                    batch.push(message);
                    if batch.len() >= MAX_BATCH {
                        self.write(std::mem::take(&mut batch));
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => self.write(std::mem::take(&mut batch)),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    self.write(batch);
                    return;
                }
            }
        }
    }

    /// The store file deleted or emptied during the run: open it again
    /// (creating it), say so once, and write the running rows there again.
    fn recreate_if_gone(&mut self) {
        if !self.store.is_gone() {
            return;
        }
        let path = self.store.path().display().to_string();
        let reopened = self.store.reopen();
        if reopened.is_err() || !self.recreated.swap(true, Ordering::AcqRel) {
            self.error(match reopened {
                Ok(()) => format!(
                    "the results store `{path}` was deleted or emptied during the run: \
                     created it again; results are recorded there from now on"
                ),
                Err(err) => format!("the results store `{path}` was deleted or emptied: {err}"),
            });
        }
        for (id, _) in self.running.values_mut() {
            *id = None;
        }
    }

    fn error(&self, message: String) {
        self.errors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(message);
    }

    /// One transaction for the batch.
    fn write(&mut self, batch: Vec<Message>) {
        if batch.is_empty() {
            self.written.store(self.seen, Ordering::Release);
            return;
        }
        self.recreate_if_gone();
        let mut ends: Vec<(u64, Box<OwnedEnding>)> = Vec::new();
        let mut fingerprints = Vec::new();
        for message in batch {
            match message {
                Message::Start(ticket, row) => {
                    self.running.insert(ticket, (None, row));
                }
                Message::End(ticket, ending) => ends.push((ticket, ending)),
                Message::Fingerprint(fingerprint) => fingerprints.push(fingerprint),
                Message::Sync(done) => {
                    let _ = done.send(());
                }
            }
        }
        let running = &mut self.running;
        let result = self.store.transaction(|store| {
            for fingerprint in &fingerprints {
                store.save_fingerprint(&fingerprint.digest, &fingerprint.files)?;
            }
            for (ticket, ending) in &ends {
                let Some((id, row)) = running.remove(ticket) else {
                    continue;
                };
                // A row written before the store was recreated is gone:
                // written again, with its end.
                let written = match id {
                    Some(id) => store.finish(id, &ending.borrowed())?,
                    None => false,
                };
                if !written {
                    let id = insert(store, &row)?;
                    store.finish(id, &ending.borrowed())?;
                }
            }
            for (id, row) in running.values_mut() {
                if id.is_none() {
                    *id = Some(insert(store, row)?);
                }
            }
            Ok(())
        });
        if let Err(err) = result {
            self.error(err.to_string());
        }
        self.written.store(self.seen, Ordering::Release);
    }
}

/// Write `row` as a running run; its row id.
fn insert(store: &Store, row: &Row) -> Result<i64, super::StoreError> {
    store.insert(&NewRun {
        identity: &row.identity,
        index: row.index,
        name: &row.name,
        started_at: &row.started_at,
        host: &row.host,
        pid: &row.pid,
        slot: row.slot,
        experiment: &row.experiment,
        parts: &row.parts,
        run_dir: row.run_dir.as_deref(),
        log_path: row.log_path.as_deref(),
    })
}
