//! The queue file (`Global.queue`): pending experiments as multi-document
//! YAML that people edit while the runner works.
//!
//! Rules (SPEC §4):
//! * an experiment leaves the file only once it has started (`peek`, start,
//!   `commit`), so a crash at any moment loses none (one that had started
//!   may run again: at-least-once);
//! * every write is a temporary file in the same directory, fsync'ed, then
//!   renamed over the queue: readers see the old or the new file, whole;
//! * the runner cuts documents out of the text and inserts new ones, and
//!   never re-serialises what the person wrote: their comments stay;
//! * a file that does not parse is reported with line and column and is not
//!   written to until it parses again;
//! * before the rename the file is checked again, and the write is redone
//!   on top of the person's version if they saved in between.
//!
//! Group commit: a commit changes the queue in memory at once, and `flush`
//! writes it (the session flushes as soon as an experiment has run for
//! 10 ms, before it waits for anything, and at the end). Experiments
//! shorter than that share one write and one fsync instead of paying ~5 ms
//! each, and an fsync of a long experiment's take overlaps its run. Until
//! a flush the file still holds experiments that have started: after a
//! crash they run again, and a pending one is never lost. Edits made by a
//! person meanwhile are read, and the runner's unwritten cuts re-applied to
//! their version before it is written.

use std::path::{Path, PathBuf};
use std::time::Duration;

use yaml_serde::Mapping;

use super::api::{Peek, Queue, QueueError, QueueReport};
use super::disk::{self, current_stamp, remove_stale_temporaries, Stamp, Written};
use super::documents::{apply, diff, parse_all, serialise};
use super::entry::QueueEntry;
use super::segments::first_document;

const HEADER: &str = "# cool-runner queue: the pending experiments, the first runs next.\n\
# Edit, add, remove or reorder them while the runner works. Documents under\n\
# `--- # expanded by cool-runner` are expanded already; the others are\n\
# expanded when taken (defaults, Repeat, runner keys, `parse` values).\n";

/// How long an edit must stay unchanged before it is trusted (an editor
/// may write a file in several steps).
const SETTLE: Duration = Duration::from_millis(20);

/// How long a missing file may take to reappear (an editor that deletes
/// the old file before writing the new one).
const REAPPEAR: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Valid,
    Invalid,
    Missing,
}

/// One change made by the runner: cut `remove` (if any), insert `insert`.
#[derive(Debug, Clone)]
struct Splice {
    remove: Option<QueueEntry>,
    insert: String,
}

#[derive(Debug)]
pub(crate) struct FileQueue {
    path: PathBuf,
    /// The queue as the runner sees it: the last valid text of the file
    /// with the runner's unwritten splices applied.
    text: String,
    /// The documents of `text`.
    docs: Vec<QueueEntry>,
    /// What the file held when the runner last wrote or read it.
    disk: Option<(String, Stamp)>,
    /// Splices in `text` that are not in the file yet.
    unwritten: Vec<Splice>,
    state: State,
    reports: Vec<QueueReport>,
    last_invalid: Option<String>,
    peeked: Option<QueueEntry>,
}

impl FileQueue {
    fn empty(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            text: String::new(),
            docs: Vec::new(),
            disk: None,
            unwritten: Vec::new(),
            state: State::Missing,
            reports: Vec::new(),
            last_invalid: None,
            peeked: None,
        }
    }

    /// Write `experiments` as a new queue file (replacing any).
    pub(crate) fn create(path: &Path, experiments: &[Mapping]) -> Result<Self, QueueError> {
        remove_stale_temporaries(path);
        let mut text = String::from(HEADER);
        text.push_str(&serialise(experiments)?);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| QueueError::Io {
                action: "create the directory of",
                path: path.to_owned(),
                source,
            })?;
        }
        let mut queue = Self::empty(path);
        if let Written::Done(stamp) = disk::write(path, &text, None)? {
            queue.disk = Some((text.clone(), stamp));
        }
        queue.text = text;
        queue.docs = experiments
            .iter()
            .cloned()
            .map(QueueEntry::Expanded)
            .collect();
        queue.state = State::Valid;
        Ok(queue)
    }

    /// Open an existing queue file that still holds experiments (to resume
    /// it); `None` if there is no file or it holds none.
    pub(crate) fn resume(path: &Path) -> Result<Option<Self>, QueueError> {
        remove_stale_temporaries(path);
        let mut queue = Self::empty(path);
        let Some((text, stamp)) = disk::read(path)? else {
            return Ok(None);
        };
        let docs = parse_all(&text, path).map_err(|message| QueueError::Invalid {
            path: path.to_owned(),
            message,
        })?;
        if docs.is_empty() {
            return Ok(None);
        }
        queue.docs = docs;
        queue.disk = Some((text.clone(), stamp));
        queue.text = text;
        queue.state = State::Valid;
        Ok(Some(queue))
    }

    fn disk_stamp(&self) -> Option<Stamp> {
        self.disk.as_ref().map(|d| d.1)
    }

    /// Look at the file again: if someone changed it, read their version,
    /// report the change, and re-apply the runner's unwritten splices.
    fn load(&mut self) {
        if self.state == State::Valid
            && self.disk_stamp().is_some()
            && current_stamp(&self.path) == self.disk_stamp()
        {
            return; // untouched since the runner wrote or read it
        }
        let read = match disk::read(&self.path) {
            Ok(read) => read,
            Err(e) => {
                self.invalid(e.to_string());
                return;
            }
        };
        let Some((mut text, mut stamp)) = read else {
            if self.state != State::Missing {
                self.reports.push(QueueReport::Removed {
                    path: self.path.clone(),
                });
            }
            // Deleted: the person cancelled what was pending.
            self.state = State::Missing;
            self.text.clear();
            self.docs.clear();
            self.disk = None;
            self.unwritten.clear();
            return;
        };
        if self.state == State::Valid && self.disk.as_ref().is_some_and(|d| d.0 == text) {
            self.disk = Some((text, stamp)); // touched, not changed
            return;
        }
        // Someone else wrote it: wait until it stops changing.
        for _ in 0..10 {
            std::thread::sleep(SETTLE);
            match disk::read(&self.path) {
                Ok(Some(again)) if again.0 == text => break,
                Ok(Some(again)) => (text, stamp) = again,
                _ => break,
            }
        }
        if let Err(message) = parse_all(&text, &self.path) {
            self.invalid(message);
            return;
        }
        let mut ours = text.clone();
        for splice in &self.unwritten {
            ours = apply(&ours, splice.remove.as_ref(), &splice.insert, &self.path);
        }
        let docs = match parse_all(&ours, &self.path) {
            Ok(docs) => docs,
            Err(message) => {
                self.invalid(message);
                return;
            }
        };
        let was = self.state;
        let (added, removed, changed, reordered) = diff(&self.docs, &docs);
        if was != State::Valid || added + removed + changed > 0 || reordered {
            self.reports.push(QueueReport::Changed {
                pending: docs.len(),
                added,
                removed,
                changed,
                reordered,
            });
        }
        self.docs = docs;
        self.text = ours;
        self.disk = Some((text, stamp));
        self.state = State::Valid;
        self.last_invalid = None;
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

    /// Cut `remove` (the first document equal to it) out of the queue and
    /// insert `insert` in its place, or at the head when it is not found.
    /// In memory only: `flush` writes it.
    fn splice(&mut self, remove: Option<QueueEntry>, insert: &[Mapping]) -> Result<(), QueueError> {
        if self.state == State::Missing {
            return Ok(()); // deleted: not recreated
        }
        let bytes = serialise(insert)?;
        let fast = remove.is_some() && self.docs.first() == remove.as_ref();
        if let Some(head) = first_document(&self.text).filter(|_| fast) {
            self.text.replace_range(head.start..head.end, &bytes);
            self.docs.remove(0);
            for (i, doc) in insert.iter().enumerate() {
                self.docs.insert(i, QueueEntry::Expanded(doc.clone()));
            }
        } else {
            self.text = apply(&self.text, remove.as_ref(), &bytes, &self.path);
            if let Ok(docs) = parse_all(&self.text, &self.path) {
                self.docs = docs;
            }
        }
        self.unwritten.push(Splice {
            remove,
            insert: bytes,
        });
        Ok(())
    }

    /// Write the runner's splices to the file, on top of any edit.
    fn write_out(&mut self) -> Result<(), QueueError> {
        for _attempt in 0..20 {
            if self.unwritten.is_empty() {
                return Ok(());
            }
            if self.state != State::Valid {
                return Ok(()); // never write over an invalid edit
            }
            if current_stamp(&self.path) != self.disk_stamp() {
                self.load(); // someone saved: re-apply onto their version
                continue;
            }
            match disk::write(&self.path, &self.text, self.disk_stamp())? {
                Written::Done(stamp) => {
                    self.disk = Some((self.text.clone(), stamp));
                    self.unwritten.clear();
                    return Ok(());
                }
                Written::Changed => self.load(),
                Written::Raced(theirs) => {
                    // Put their version back, then start again from it.
                    disk::write(&self.path, &theirs, None)?;
                }
            }
        }
        Err(QueueError::Io {
            action: "update",
            path: self.path.clone(),
            source: std::io::Error::other("it kept changing while being written"),
        })
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
            State::Invalid => Peek::Invalid,
            State::Valid => match self.docs.first() {
                Some(entry) => {
                    self.peeked = Some(entry.clone());
                    Peek::Next(entry.clone())
                }
                None => Peek::Empty,
            },
        }
    }

    fn commit(&mut self, replacement: &[Mapping]) -> Result<(), QueueError> {
        let peeked = self.peeked.take();
        if peeked.is_none() && replacement.is_empty() {
            return Ok(());
        }
        self.splice(peeked, replacement)
    }

    fn push_front(&mut self, docs: &[Mapping]) -> Result<(), QueueError> {
        if docs.is_empty() {
            return Ok(());
        }
        self.splice(None, docs)?;
        self.write_out()
    }

    fn flush(&mut self) -> Result<(), QueueError> {
        self.write_out()
    }

    fn refresh(&mut self) {
        self.load();
    }

    fn pending(&self) -> usize {
        self.docs.len()
    }

    fn take_reports(&mut self) -> Vec<QueueReport> {
        std::mem::take(&mut self.reports)
    }

    fn finish(&mut self, keep: bool) -> Result<(), QueueError> {
        self.load();
        self.write_out()?;
        if keep {
            return Ok(());
        }
        if self.state == State::Valid && self.docs.is_empty() {
            match std::fs::remove_file(&self.path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(QueueError::Io {
                        action: "remove",
                        path: self.path.clone(),
                        source,
                    })
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use yaml_serde::Value;

    use super::*;
    use crate::queue::entry::EXPANDED_LINE;
    use crate::yaml::read::parse_documents;

    fn doc(text: &str) -> Mapping {
        yaml_serde::from_str(text).unwrap()
    }

    /// An experiment the runner wrote.
    fn exp(text: &str) -> QueueEntry {
        QueueEntry::Expanded(doc(text))
    }

    /// An experiment a person wrote.
    fn raw(text: &str) -> QueueEntry {
        QueueEntry::Raw(doc(text))
    }

    fn take(queue: &mut FileQueue) -> Option<QueueEntry> {
        match queue.peek() {
            Peek::Next(m) => {
                queue.commit(&[]).unwrap();
                queue.flush().unwrap();
                Some(m)
            }
            _ => None,
        }
    }

    #[test]
    fn take_in_order_and_remove_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.yaml");
        let mut queue = FileQueue::create(&path, &[doc("a: 1"), doc("a: 2")]).unwrap();
        assert_eq!(take(&mut queue), Some(exp("a: 1")));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{HEADER}{EXPANDED_LINE}a: 2\n"));
        assert_eq!(take(&mut queue), Some(exp("a: 2")));
        assert_eq!(queue.peek(), Peek::Empty);
        assert!(queue.take_reports().is_empty());
        queue.finish(false).unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn edits_are_reported_and_comments_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.yaml");
        let mut queue = FileQueue::create(&path, &[doc("a: 1"), doc("a: 2")]).unwrap();
        let m = EXPANDED_LINE;
        std::fs::write(
            &path,
            format!("# mine\n{m}a: 2\n# next\n{m}a: 1\n---\nb: 3\n"),
        )
        .unwrap();
        queue.refresh();
        assert_eq!(
            queue.take_reports(),
            [QueueReport::Changed {
                pending: 3,
                added: 1,
                removed: 0,
                changed: 0,
                reordered: false
            }]
        );
        assert_eq!(take(&mut queue), Some(exp("a: 2")));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("# mine\n# next\n{m}a: 1\n---\nb: 3\n")
        );
        std::fs::write(&path, format!("---\nb: 3\n{m}a: 1\n")).unwrap();
        queue.refresh();
        assert_eq!(
            queue.take_reports()[0].to_string(),
            "queue: 2 pending (reordered)"
        );
        // Removing the mark is a change: the document is a person's now.
        std::fs::write(&path, "---\nb: 3\n---\na: 1\n").unwrap();
        queue.refresh();
        assert_eq!(
            queue.take_reports()[0].to_string(),
            "queue: 2 pending (1 changed)"
        );
        assert_eq!(take(&mut queue), Some(raw("b: 3")));
        assert_eq!(take(&mut queue), Some(raw("a: 1")));
    }

    #[test]
    fn invalid_edits_wait_and_are_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.yaml");
        let mut queue = FileQueue::create(&path, &[doc("a: 1")]).unwrap();
        let bad = "---\na: 1\n---\nb: [1, 2\nc: 3\n";
        std::fs::write(&path, bad).unwrap();
        assert_eq!(queue.peek(), Peek::Invalid);
        let reports = queue.take_reports();
        assert_eq!(reports.len(), 1);
        let message = reports[0].to_string();
        assert!(message.contains("line 5, column"), "{message}");
        // Reported once, file untouched.
        assert_eq!(queue.peek(), Peek::Invalid);
        assert!(queue.take_reports().is_empty());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), bad);
        std::fs::write(&path, "---\na: 1\n---\nb: [1, 2]\n").unwrap();
        assert_eq!(take(&mut queue), Some(raw("a: 1")));
        assert_eq!(queue.pending(), 1);
    }

    #[test]
    fn splice_without_markers_and_push_front() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.yaml");
        let mut queue = FileQueue::create(&path, &[]).unwrap();
        std::fs::write(&path, "a: 1").unwrap();
        assert_eq!(queue.peek(), Peek::Next(raw("a: 1")));
        assert_eq!(queue.take_reports().len(), 1);
        queue.commit(&[doc("a: 2"), doc("a: 3")]).unwrap();
        queue.flush().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{EXPANDED_LINE}a: 2\n{EXPANDED_LINE}a: 3\n")
        );
        queue.push_front(&[doc("z: 0")]).unwrap();
        assert_eq!(take(&mut queue), Some(exp("z: 0")));
        assert_eq!(take(&mut queue), Some(exp("a: 2")));
        std::fs::remove_file(&path).unwrap();
        assert_eq!(queue.peek(), Peek::Empty);
        assert!(matches!(
            queue.take_reports()[..],
            [QueueReport::Removed { .. }]
        ));
        queue.push_front(&[doc("z: 0")]).unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn unwritten_takes_are_reapplied_to_a_persons_edit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.yaml");
        let mut queue = FileQueue::create(&path, &[doc("a: 1"), doc("a: 2"), doc("a: 3")]).unwrap();
        // Two quick takes, not written yet: the file still holds them.
        for expected in ["a: 1", "a: 2"] {
            assert_eq!(queue.peek(), Peek::Next(exp(expected)));
            queue.commit(&[]).unwrap();
        }
        assert_eq!(documents_in(&path).len(), 3);
        // The person edits the file they see (all three) and adds one.
        let m = EXPANDED_LINE;
        std::fs::write(
            &path,
            format!("{m}a: 1\n{m}a: 2\n# mine\n{m}a: 3\n---\na: 4\n"),
        )
        .unwrap();
        assert_eq!(queue.peek(), Peek::Next(exp("a: 3")));
        assert_eq!(
            queue.take_reports(),
            [QueueReport::Changed {
                pending: 2,
                added: 1,
                removed: 0,
                changed: 0,
                reordered: false
            }]
        );
        queue.flush().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("# mine\n{m}a: 3\n---\na: 4\n")
        );
    }

    /// A take is cut from a person's version even if they removed its mark.
    #[test]
    fn unwritten_takes_find_their_document_without_its_mark() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.yaml");
        let mut queue = FileQueue::create(&path, &[doc("a: 1"), doc("a: 2")]).unwrap();
        assert_eq!(queue.peek(), Peek::Next(exp("a: 1")));
        queue.commit(&[]).unwrap();
        std::fs::write(&path, "---\na: 1\n---\na: 2\n").unwrap();
        assert_eq!(queue.peek(), Peek::Next(raw("a: 2")));
        queue.flush().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "---\na: 2\n");
    }

    fn documents_in(path: &Path) -> Vec<Value> {
        parse_documents(&std::fs::read_to_string(path).unwrap(), path)
            .unwrap()
            .into_iter()
            .filter(|d| !d.is_null())
            .collect()
    }

    #[test]
    fn resume_reads_states() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.yaml");
        let stale = dir.path().join(".q.yaml.abc123.tmp");
        std::fs::write(&stale, "half").unwrap();
        assert!(FileQueue::resume(&path).unwrap().is_none());
        assert!(
            !stale.exists(),
            "a killed runner's temporary file is removed"
        );
        std::fs::write(&path, "# nothing\n").unwrap();
        assert!(FileQueue::resume(&path).unwrap().is_none());
        std::fs::write(&path, "a: 1\n---\n- x\n").unwrap();
        assert!(FileQueue::resume(&path).is_err());
        std::fs::write(&path, "a: 1\n").unwrap();
        assert_eq!(FileQueue::resume(&path).unwrap().unwrap().pending(), 1);
        // A file of the previous version (no marks): documents with all
        // four runner keys are expanded, a person's `REP: 5` is not.
        let legacy = "---\nx: 1\nREP: 0\nGLOBAL_REP: 0\nRND_IDX: 123456\nHOST: h\n---\nREP: 5\n";
        std::fs::write(&path, legacy).unwrap();
        let mut queue = FileQueue::resume(&path).unwrap().unwrap();
        assert!(matches!(take(&mut queue), Some(QueueEntry::Expanded(_))));
        assert_eq!(take(&mut queue), Some(raw("REP: 5")));
    }
}
