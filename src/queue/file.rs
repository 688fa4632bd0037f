//! The queue file (`Global.queue`): pending experiments as multi-document
//! YAML that people edit while the runner works (SPEC §4, README "The
//! queue file").
//!
//! Design: the file is the person's view; the runner's truth is the file
//! *plus* its journal (`journal.rs`). Taking the head costs O(1) whatever
//! the number pending: the document is dropped from the in-memory
//! `Pending` (text offsets, nothing copied) and one small record goes to
//! the journal with a single `write` (fsync'ed by the group commit, before
//! the session waits). The record names the taken document by the digest
//! of its text and carries the experiment started from it, so that after a
//! kill -9 the next runner puts the experiments that were running back at
//! the head, exactly once.
//!
//! The file itself is rewritten lazily (`flush`): when the bytes to
//! rewrite are at most `REWRITE_BYTES` per document taken since the last
//! rewrite (so the bytes written per experiment do not grow with the
//! queue), when it is `REWRITE_AFTER` stale and rewriting costs under 2% of
//! that time, when the runner puts documents at the head, and at the end.
//! It is never rewritten to a bare header while experiments run. A rewrite
//! is a temporary file, fsync'ed, a `wrote` record, a rename, then a new
//! journal; a person's edit is read only once it has settled, is validated
//! (new documents only), and the runner's unwritten takes are re-applied
//! to it by digest: their text is never re-serialised.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use yaml_serde::Mapping;

use super::api::{Launch, ParkId, Peek, Queue, QueueError, QueueReport, Ticket};
use super::disk::{self, current_stamp, remove_stale_temporaries, Stamp, Written};
use super::documents::{diff, entry_of, parse_doc, serialise, serialise_each};
use super::entry::QueueEntry;
use super::journal::{Digest, Journal, Record};
use super::lock::{open_for_writing, QueueLock};
use super::pending::{At, Pending};
use replay::validate;

pub(crate) const HEADER: &str =
    "# cool-runner queue: the pending experiments, the first runs next.\n\
# Edit, add, remove or reorder them while the runner works. Documents under\n\
# `--- # expanded by cool-runner` are expanded already; the others are\n\
# expanded when taken (defaults, Repeat, runner keys, `parse` values).\n";

/// How long an edit must stay unchanged before it is acted on.
const SETTLE: Duration = Duration::from_millis(50);

/// How long a missing file may take to reappear (an editor that deletes
/// the old file before writing the new one).
const REAPPEAR: Duration = Duration::from_millis(100);

/// The file is rewritten once it is at most this many bytes per document
/// taken since the last rewrite.
const REWRITE_BYTES: usize = 2048;

/// ... or once it is this stale (and rewriting costs under 2% of it).
const REWRITE_AFTER: Duration = Duration::from_secs(10);

/// How long documents cut out of the file by a rewrite are remembered: an
/// edit that read the file before that rewrite and renamed its result over
/// it afterwards (`sed -i`, a script) still holds them, and they are not
/// pending again. An editor buffer kept open longer is the README's caveat.
const RECENTLY_TAKEN: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Valid,
    Invalid,
    /// Another process has the file open for writing: wait until it is done.
    Unsettled,
    Missing,
}

/// What resuming found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resumed {
    /// Experiments that were running when the last runner died, back at
    /// the head.
    pub requeued: usize,
    /// The experiment file (or the arguments) differ from the ones the
    /// queue was expanded from.
    pub source_changed: bool,
}

#[derive(Debug)]
pub(crate) struct FileQueue {
    path: PathBuf,
    pending: Pending,
    /// The file's stamp when the runner last read or wrote it.
    stamp: Option<Stamp>,
    state: State,
    reports: Vec<QueueReport>,
    last_invalid: Option<String>,
    /// The head, parsed, with its digest and place.
    head: Option<(Digest, QueueEntry, At)>,
    /// Documents left pending but skipped by `peek` (pipelines: they wait
    /// for experiments to end), by digest, so that they stay parked when
    /// the file is read or rewritten. An edited one is not parked any more.
    parked: HashSet<Digest>,
    peeked: Option<Digest>,
    journal: Journal,
    /// Started experiments, as marked YAML text, with their run directory.
    running: BTreeMap<Ticket, (String, String)>,
    next_ticket: Ticket,
    source: String,
    lock: QueueLock,
    last_write: Instant,
    write_cost: Duration,
    /// Documents cut out of the file by the runner's rewrites in the last
    /// [`RECENTLY_TAKEN`], with when.
    recently_taken: Vec<(Digest, Instant)>,
}

impl FileQueue {
    /// Take the queue file at `path`: resume it if it (or its journal)
    /// holds experiments, else write `experiments` to it. `source` is a
    /// digest of what the experiments were expanded from.
    pub(crate) fn open(
        path: &Path,
        source: &str,
        experiments: &[Mapping],
    ) -> Result<(Self, Option<Resumed>), QueueError> {
        let lock = QueueLock::acquire(path)?;
        remove_stale_temporaries(path);
        let records = Journal::read(path)?;
        if let Some((text, stamp)) = disk::read(path)? {
            let pending = Pending::new(text);
            validate(&pending, &HashSet::new(), path).map_err(|message| QueueError::Invalid {
                path: path.to_owned(),
                message,
            })?;
            let mut queue = Self::with(path, pending, Some(stamp), lock, source, &records)?;
            let resumed = queue.replay(&records)?;
            if queue.pending.len() > 0 {
                return Ok((queue, Some(resumed)));
            }
            queue.remove_file()?;
            return Self::create(path, source, experiments, queue.lock);
        }
        Self::create(path, source, experiments, lock)
    }

    /// `--restart`: remove a leftover queue file and its journal (taking
    /// the lock first, so a running runner's file is never removed).
    pub(crate) fn discard(path: &Path) -> Result<(), QueueError> {
        let lock = QueueLock::acquire(path)?;
        for file in [path.to_owned(), super::journal::sidecar(path, "journal")] {
            match std::fs::remove_file(&file) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(QueueError::Io {
                        action: "remove",
                        path: file,
                        source,
                    })
                }
            }
        }
        drop(lock);
        Ok(())
    }

    fn create(
        path: &Path,
        source: &str,
        experiments: &[Mapping],
        lock: QueueLock,
    ) -> Result<(Self, Option<Resumed>), QueueError> {
        let mut text = String::from(HEADER);
        text.push_str(&serialise(experiments)?);
        let mut journal = None;
        let written = disk::write(path, &text, None, &mut |stamp| {
            journal = Some(Journal::create(
                path,
                &[Record::Base(stamp), Record::Source(source.to_owned())],
            )?);
            Ok(())
        })?;
        let Written::Done(stamp) = written else {
            unreachable!("an unconditional write is done or fails")
        };
        let mut queue = Self::with(path, Pending::new(text), Some(stamp), lock, source, &[])?;
        queue.journal = journal.expect("created before the rename");
        Ok((queue, None))
    }

    fn with(
        path: &Path,
        pending: Pending,
        stamp: Option<Stamp>,
        lock: QueueLock,
        source: &str,
        records: &[Record],
    ) -> Result<Self, QueueError> {
        let next_ticket = records
            .iter()
            .filter_map(|r| match r {
                Record::Take { ticket, .. } => *ticket,
                _ => None,
            })
            .max()
            .unwrap_or(0)
            + 1;
        Ok(Self {
            path: path.to_owned(),
            pending,
            stamp,
            state: State::Valid,
            reports: Vec::new(),
            last_invalid: None,
            head: None,
            parked: HashSet::new(),
            peeked: None,
            journal: Journal::append_to(path)?,
            running: BTreeMap::new(),
            next_ticket,
            source: source.to_owned(),
            lock,
            last_write: Instant::now(),
            write_cost: Duration::ZERO,
            recently_taken: Vec::new(),
        })
    }

    /// Look at the file again: if someone changed it, wait until it has
    /// settled, read their version, report the change, and re-apply the
    /// runner's unwritten takes to it.
    fn load(&mut self) {
        if self.state == State::Valid
            && self.stamp.is_some()
            && current_stamp(&self.path) == self.stamp
        {
            return; // untouched since the runner wrote or read it
        }
        let Some((text, stamp)) = self.settled() else {
            return;
        };
        if self.state == State::Valid && text == self.pending.base() {
            self.stamp = Some(stamp); // touched, not changed
            return;
        }
        let mut known: HashSet<Digest> = self.pending.iter().map(|d| d.2).collect();
        let mut new = Pending::new(text);
        if let Err(message) = validate(&new, &known, &self.path) {
            self.invalid(message);
            return;
        }
        // Re-apply what the runner did since it last wrote the file.
        for (text, digest) in self.pending.taken_documents() {
            known.insert(digest);
            if !new.remove(&digest) {
                // Its mark removed or its text reformatted: the same keys.
                let keys = entry_of(text).map(|e| e.mapping().clone());
                new.remove_first(|t, d| {
                    !known.contains(&d)
                        && keys.is_some()
                        && entry_of(t).map(|e| e.mapping().clone()) == keys
                });
            }
        }
        self.drop_recently_taken(&mut new);
        new.push_front(self.pending.owned().into_iter());
        let (added, removed, changed, reordered) = diff(&self.pending, &new);
        if self.state != State::Valid || added + removed + changed > 0 || reordered {
            self.reports.push(QueueReport::Changed {
                pending: new.len(),
                added,
                removed,
                changed,
                reordered,
            });
        }
        self.pending = new;
        self.pending.park_again(&self.parked);
        self.stamp = Some(stamp);
        self.state = State::Valid;
        self.last_invalid = None;
        self.head = None;
    }

    /// An edit made from a version of the file read before the runner's
    /// last rewrites holds documents that the runner took since: one more
    /// copy of a recently taken document than the runner has pending is
    /// that stale copy, not a new experiment.
    fn drop_recently_taken(&mut self, new: &mut Pending) {
        self.recently_taken
            .retain(|(_, at)| at.elapsed() < RECENTLY_TAKEN);
        if self.recently_taken.is_empty() {
            return;
        }
        let mut extra: std::collections::HashMap<Digest, isize> = std::collections::HashMap::new();
        for (_, _, digest) in new.iter() {
            *extra.entry(digest).or_default() += 1;
        }
        for (_, _, digest) in self.pending.iter() {
            *extra.entry(digest).or_default() -= 1;
        }
        self.recently_taken.retain(|(digest, _)| {
            let count = extra.entry(*digest).or_default();
            if *count > 0 && new.remove(digest) {
                *count -= 1;
                return false;
            }
            true
        });
    }

    /// The file once it has stopped changing and nobody is writing it;
    /// `None` when it is missing (reported) or still being written.
    fn settled(&mut self) -> Option<(String, Stamp)> {
        let mut read = disk::read(&self.path);
        loop {
            let (text, stamp) = match read {
                Ok(Some(found)) => found,
                Ok(None) => {
                    self.missing();
                    return None;
                }
                Err(e) => {
                    self.invalid(e.to_string());
                    return None;
                }
            };
            if self.state == State::Valid && text == self.pending.base() {
                return Some((text, stamp));
            }
            std::thread::sleep(SETTLE);
            if current_stamp(&self.path) != Some(stamp) {
                read = disk::read(&self.path);
                continue;
            }
            if open_for_writing(&self.path) {
                if self.state != State::Unsettled {
                    self.reports.push(QueueReport::Writing {
                        path: self.path.clone(),
                    });
                }
                self.state = State::Unsettled;
                return None;
            }
            return Some((text, stamp));
        }
    }

    fn missing(&mut self) {
        if self.state != State::Missing {
            self.reports.push(QueueReport::Removed {
                path: self.path.clone(),
            });
        }
        // Deleted: the person cancelled what was pending.
        self.state = State::Missing;
        self.pending = Pending::default();
        self.stamp = None;
        self.head = None;
    }

    fn invalid(&mut self, message: String) {
        if self.last_invalid.as_deref() != Some(message.as_str()) {
            self.reports.push(QueueReport::Invalid {
                path: self.path.clone(),
                message: message.clone(),
            });
        }
        self.last_invalid = Some(message);
        self.state = State::Invalid;
    }

    /// Whether the lazy rewrite is due (see the module's comment).
    fn rewrite_due(&self) -> bool {
        let taken = self.pending.taken();
        if !self.pending.changed() || (self.pending.len() == 0 && !self.running.is_empty()) {
            return false;
        }
        let stale = self.last_write.elapsed();
        self.pending.has_owned()
            || self.pending.base().len() <= REWRITE_BYTES * taken
            || (stale >= REWRITE_AFTER && stale >= self.write_cost * 50)
    }

    /// Write the runner's changes to the file, on top of any edit. Not
    /// `force`d, it leaves the file alone while it would be a bare header
    /// with experiments running.
    fn write_out(&mut self, force: bool) -> Result<(), QueueError> {
        for _attempt in 0..20 {
            if !self.pending.changed() || self.state != State::Valid {
                return Ok(()); // nothing to write, or never over an invalid edit
            }
            if !force && self.pending.len() == 0 && !self.running.is_empty() {
                return Ok(());
            }
            if current_stamp(&self.path) != self.stamp {
                self.load(); // someone saved: re-apply onto their version
                continue;
            }
            let started = Instant::now();
            let next = self.pending.rebased();
            let journal = &mut self.journal;
            let written = disk::write(&self.path, next.base(), self.stamp, &mut |stamp| {
                journal.append(&Record::Wrote(stamp))?;
                journal.sync()
            })?;
            match written {
                Written::Done(stamp) => {
                    let now = Instant::now();
                    self.recently_taken.extend(
                        self.pending
                            .taken_documents()
                            .into_iter()
                            .map(|(_, digest)| (digest, now)),
                    );
                    self.pending = next;
                    self.pending.park_again(&self.parked);
                    // Places in the old text mean nothing in the new one.
                    self.head = None;
                    self.stamp = Some(stamp);
                    self.compact()?;
                    self.last_write = Instant::now();
                    self.write_cost = started.elapsed();
                    return Ok(());
                }
                Written::Changed => self.load(),
                Written::Raced(theirs) => {
                    // Put their version back, then start again from it.
                    disk::write(&self.path, &theirs, None, &mut |_| Ok(()))?;
                }
            }
        }
        Err(QueueError::Io {
            action: "update",
            path: self.path.clone(),
            source: std::io::Error::other("it kept changing while being written"),
        })
    }

    /// A new journal: the running experiments, then this version of the file.
    fn compact(&mut self) -> Result<(), QueueError> {
        let mut records: Vec<Record> = self
            .running
            .iter()
            .map(|(ticket, (run, run_dir))| Record::Take {
                digest: [0; 16],
                ticket: Some(*ticket),
                rest: String::new(),
                run: run.clone(),
                run_dir: run_dir.clone(),
            })
            .collect();
        records.extend(self.stamp.map(Record::Base));
        records.push(Record::Source(self.source.clone()));
        self.journal = Journal::create(&self.path, &records)?;
        Ok(())
    }

    fn remove_file(&mut self) -> Result<(), QueueError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(QueueError::Io {
                action: "remove",
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// The head, parsed once; null documents are dropped on the way.
    fn parse_head(&mut self) -> Peek {
        loop {
            if let Some((digest, entry, _)) = &self.head {
                self.peeked = Some(*digest);
                return Peek::Next(entry.clone());
            }
            let Some((head, at)) = self.pending.head_skipping(&self.parked) else {
                return Peek::Empty;
            };
            match parse_doc(head.text, head.line, head.expanded, &self.path) {
                Ok(Some(entry)) => {
                    self.head = Some((super::journal::digest(head.text), entry, at));
                }
                Ok(None) => {
                    // A null document: nothing to run.
                    self.peeked = Some(super::journal::digest(head.text));
                    if let Err(err) = self.commit(&[], None) {
                        self.invalid(err.to_string());
                        return Peek::Invalid;
                    }
                }
                Err(message) => {
                    self.invalid(message);
                    return Peek::Invalid;
                }
            }
        }
    }
}

impl Queue for FileQueue {
    fn peek(&mut self) -> Peek {
        self.load();
        if self.state == State::Missing {
            std::thread::sleep(REAPPEAR);
            self.load();
        }
        self.peeked = None;
        match self.state {
            State::Missing => Peek::Empty,
            State::Invalid | State::Unsettled => Peek::Invalid,
            State::Valid => self.parse_head(),
        }
    }

    fn commit(
        &mut self,
        replacement: &[Mapping],
        started: Option<Launch<'_>>,
    ) -> Result<Option<Ticket>, QueueError> {
        let peeked = self.peeked.take();
        if self.state == State::Missing {
            return Ok(None); // deleted: not recreated
        }
        let digest = match (peeked, &self.head) {
            (Some(p), Some((h, _, at))) if p == *h => Some(self.pending.take_at(*at)),
            (Some(p), _) => self.pending.remove(&p).then_some(p),
            (None, _) if started.is_none() && replacement.is_empty() => return Ok(None),
            (None, _) => None,
        };
        self.head = None;
        let rest = serialise_each(replacement)?;
        let record = Record::Take {
            digest: digest.unwrap_or([0; 16]),
            ticket: started.map(|_| self.next_ticket),
            rest: rest.concat(),
            run: started
                .map(|s| serialise(std::slice::from_ref(s.experiment)))
                .transpose()?
                .unwrap_or_default(),
            run_dir: started
                .map(|s| s.run_dir.display().to_string())
                .unwrap_or_default(),
        };
        self.journal.append(&record)?;
        self.pending.push_front(rest.into_iter());
        let Record::Take {
            ticket,
            run,
            run_dir,
            ..
        } = record
        else {
            unreachable!("built above")
        };
        if let Some(ticket) = ticket {
            self.running.insert(ticket, (run, run_dir));
            self.next_ticket += 1;
        }
        Ok(ticket)
    }

    fn finished(&mut self, ticket: Ticket) -> Result<(), QueueError> {
        if self.running.remove(&ticket).is_some() {
            self.journal.append(&Record::Done(ticket))?;
        }
        Ok(())
    }

    fn requeue(&mut self, tickets: &[Ticket]) -> Result<(), QueueError> {
        let tickets: Vec<Ticket> = tickets
            .iter()
            .copied()
            .filter(|t| self.running.contains_key(t))
            .collect();
        if tickets.is_empty() {
            return Ok(());
        }
        self.journal.append(&Record::Requeue(tickets.clone()))?;
        self.journal.sync()?;
        let texts: Vec<String> = tickets
            .iter()
            .filter_map(|t| self.running.remove(t))
            .map(|(run, _)| run)
            .collect();
        if self.state != State::Missing {
            self.pending.push_front(texts.into_iter());
            self.head = None;
        }
        self.write_out(true)
    }

    fn flush(&mut self) -> Result<(), QueueError> {
        self.journal.sync()?;
        if self.rewrite_due() {
            self.write_out(false)?;
        }
        Ok(())
    }

    fn refresh(&mut self) {
        self.load();
    }

    fn park(&mut self) -> Option<ParkId> {
        let digest = self.peeked.take()?;
        let (_, _, at) = self.head.take().filter(|h| h.0 == digest)?;
        // A document of the runner's is skipped by its digest alone.
        self.pending.park(at);
        self.parked.insert(digest);
        Some(u128::from_le_bytes(digest))
    }

    fn unpark(&mut self, ids: &[ParkId]) {
        for id in ids {
            let digest = id.to_le_bytes();
            if self.parked.remove(&digest) {
                self.pending.unpark(&digest);
                self.head = None;
            }
        }
    }

    fn unpark_all(&mut self) {
        self.parked.clear();
        self.pending.unpark_all();
        self.head = None;
    }

    fn pending(&self) -> usize {
        self.pending.len()
    }

    fn take_reports(&mut self) -> Vec<QueueReport> {
        std::mem::take(&mut self.reports)
    }

    fn finish(&mut self, keep: bool) -> Result<(), QueueError> {
        self.load();
        self.journal.sync()?;
        let nothing_left = self.pending.len() == 0 && self.running.is_empty();
        let removable = match self.state {
            State::Valid => !open_for_writing(&self.path),
            State::Missing => true,
            State::Invalid | State::Unsettled => false,
        };
        if keep || !nothing_left || !removable {
            return self.write_out(true);
        }
        // Done: the file goes first; a crash before the journal follows
        // leaves no file, as a finished run does.
        if self.state == State::Valid {
            self.remove_file()?;
        }
        self.journal.remove();
        self.lock.remove();
        Ok(())
    }
}

#[path = "file_replay.rs"]
mod replay;

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
