//! The pending documents of a queue file as text, not as parsed
//! experiments: the file's text once, the place and digest of each of its
//! documents, which of them the runner took since it last wrote the file,
//! and the documents the runner put at the head (each a text of its own).
//!
//! Taking the head is O(1) whatever the number pending; a document is
//! parsed only when it reaches the head (`FileQueue::peek`). Everything the
//! runner changes is at the head (takes, the other `Repeat` copies of a
//! new document, requeued experiments), so `render` rebuilds the file as
//! the person's text with the taken documents cut out: their comments and
//! formatting stay byte for byte.

use std::cell::OnceCell;
use std::collections::{HashMap, HashSet, VecDeque};

use super::journal::{digest, Digest};
use super::segments::split;

/// A document of the base text.
#[derive(Debug, Clone)]
struct Doc {
    start: usize,
    end: usize,
    line: usize,
    has_marker: bool,
    expanded: bool,
    /// Computed when first needed (a take, a person's edit, a resume with
    /// a journal), then kept across rewrites.
    digest: OnceCell<Digest>,
}

impl Doc {
    fn digest(&self, base: &str) -> Digest {
        *self
            .digest
            .get_or_init(|| digest(&base[self.start..self.end]))
    }
}

fn newlines(text: &str) -> usize {
    text.bytes().filter(|&b| b == b'\n').count()
}

/// Where a pending document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum At {
    /// In the runner's documents at the head.
    Owned(usize),
    /// In the file's text.
    Base(usize),
}

/// The head document, to be parsed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Head<'a> {
    pub text: &'a str,
    /// 1-based line in the file (0: written by the runner, not in the file yet).
    pub line: usize,
    pub expanded: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Pending {
    /// The file's text as last read or written.
    base: String,
    docs: Vec<Doc>,
    /// `removed[i]`: `docs[i]` left the queue since `base` was read.
    removed: Vec<bool>,
    /// No document before this index is pending.
    cursor: usize,
    /// Documents the runner put at the head, first first (marked text).
    owned: VecDeque<(String, Digest)>,
    /// Base documents still pending.
    left: usize,
    /// `parked[i]`: `docs[i]` is pending but skipped (pipelines: it waits
    /// for experiments to end). Empty when nothing was parked.
    parked: Vec<bool>,
    /// The places of the parked documents, by digest.
    parked_at: HashMap<Digest, Vec<usize>>,
    /// No document before this index (and at or after `cursor`) is
    /// pending and not parked: peeks past parked documents cost O(1).
    first_free: usize,
}

impl Pending {
    pub(crate) fn new(base: String) -> Self {
        let docs: Vec<Doc> = split(&base)
            .into_iter()
            .filter(|s| s.has_content)
            .map(|s| Doc {
                start: s.start,
                end: s.end,
                line: s.line,
                has_marker: s.has_marker,
                expanded: s.expanded,
                digest: OnceCell::new(),
            })
            .collect();
        Self {
            removed: vec![false; docs.len()],
            left: docs.len(),
            docs,
            base,
            cursor: 0,
            owned: VecDeque::new(),
            parked: Vec::new(),
            parked_at: HashMap::new(),
            first_free: 0,
        }
    }

    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    pub(crate) fn len(&self) -> usize {
        self.owned.len() + self.left
    }

    /// Whether the runner changed anything since `base` was read.
    pub(crate) fn changed(&self) -> bool {
        !self.owned.is_empty() || self.left < self.docs.len()
    }

    /// How many base documents were taken since `base` was read.
    pub(crate) fn taken(&self) -> usize {
        self.docs.len() - self.left
    }

    fn skip_removed(&mut self) {
        while self.cursor < self.docs.len() && self.removed[self.cursor] {
            self.cursor += 1;
        }
    }

    #[cfg(test)]
    pub(crate) fn head(&mut self) -> Option<Head<'_>> {
        self.head_skipping(&HashSet::new()).map(|(head, _)| head)
    }

    /// The first pending document that is not parked (a document the
    /// runner wrote is parked when its digest is in `parked`), and
    /// where it is (for [`Pending::take_at`]).
    pub(crate) fn head_skipping(&mut self, parked: &HashSet<Digest>) -> Option<(Head<'_>, At)> {
        let owned = self
            .owned
            .iter()
            .position(|(_, d)| parked.is_empty() || !parked.contains(d));
        if let Some(i) = owned {
            let head = Head {
                text: &self.owned[i].0,
                line: 0,
                expanded: true,
            };
            return Some((head, At::Owned(i)));
        }
        let mut i = self.first_free.max(self.cursor);
        while i < self.docs.len() && (self.removed[i] || self.parked.get(i) == Some(&true)) {
            i += 1;
        }
        self.first_free = i;
        let doc = self.docs.get(i)?;
        let head = Head {
            text: &self.base[doc.start..doc.end],
            line: doc.line,
            expanded: doc.expanded,
        };
        Some((head, At::Base(i)))
    }

    /// Leave the document at `at` pending but skip it; false for a
    /// document the runner wrote (the caller keeps those by digest).
    pub(crate) fn park(&mut self, at: At) -> bool {
        let At::Base(i) = at else {
            return false;
        };
        if self.parked.len() < self.docs.len() {
            self.parked.resize(self.docs.len(), false);
        }
        self.parked[i] = true;
        let digest = self.docs[i].digest(&self.base);
        self.parked_at.entry(digest).or_default().push(i);
        true
    }

    /// Skip no more the parked documents with this digest.
    pub(crate) fn unpark(&mut self, digest: &Digest) {
        for i in self.parked_at.remove(digest).unwrap_or_default() {
            self.parked[i] = false;
            self.first_free = self.first_free.min(i);
        }
    }

    /// Skip no parked document any more.
    pub(crate) fn unpark_all(&mut self) {
        self.parked.clear();
        self.parked_at.clear();
        self.first_free = self.cursor;
    }

    /// Park again, after the file was read or rewritten, the documents
    /// whose digests are in `parked`.
    pub(crate) fn park_again(&mut self, parked: &HashSet<Digest>) {
        if parked.is_empty() {
            return;
        }
        for i in self.cursor..self.docs.len() {
            if !self.removed[i] && parked.contains(&self.docs[i].digest(&self.base)) {
                self.park(At::Base(i));
            }
        }
    }

    /// Remove the head; its digest.
    #[cfg(test)]
    pub(crate) fn take(&mut self) -> Option<Digest> {
        let (_, at) = self.head_skipping(&HashSet::new())?;
        Some(self.take_at(at))
    }

    /// Remove the document at `at` (from [`Pending::head_skipping`]); its digest.
    pub(crate) fn take_at(&mut self, at: At) -> Digest {
        match at {
            At::Owned(i) => self.owned.remove(i).expect("a pending document").1,
            At::Base(i) => {
                self.removed[i] = true;
                self.left -= 1;
                self.skip_removed();
                self.docs[i].digest(&self.base)
            }
        }
    }

    /// Put runner-written documents (one marked document per item) at the
    /// head, in this order.
    pub(crate) fn push_front(&mut self, docs: impl DoubleEndedIterator<Item = String>) {
        for text in docs.rev() {
            let d = digest(&text);
            self.owned.push_front((text, d));
        }
    }

    /// Remove the first pending document with this digest; whether there
    /// was one.
    pub(crate) fn remove(&mut self, target: &Digest) -> bool {
        if let Some(at) = self.owned.iter().position(|(_, d)| d == target) {
            self.owned.remove(at);
            return true;
        }
        let found = (self.cursor..self.docs.len())
            .find(|&i| !self.removed[i] && self.docs[i].digest(&self.base) == *target);
        if let Some(i) = found {
            self.removed[i] = true;
            self.left -= 1;
        }
        found.is_some()
    }

    /// The base documents taken since `base` was read, in order.
    pub(crate) fn taken_documents(&self) -> Vec<(&str, Digest)> {
        self.docs
            .iter()
            .zip(&self.removed)
            .filter(|(_, removed)| **removed)
            .map(|(doc, _)| (&self.base[doc.start..doc.end], doc.digest(&self.base)))
            .collect()
    }

    /// The documents the runner put at the head.
    pub(crate) fn owned(&self) -> Vec<String> {
        self.owned.iter().map(|(t, _)| t.clone()).collect()
    }

    pub(crate) fn has_owned(&self) -> bool {
        !self.owned.is_empty()
    }

    /// Remove the first pending base document for which `matches(text,
    /// digest)` holds.
    pub(crate) fn remove_first(&mut self, mut matches: impl FnMut(&str, Digest) -> bool) {
        let found = (self.cursor..self.docs.len()).find(|&i| {
            let doc = &self.docs[i];
            !self.removed[i] && matches(&self.base[doc.start..doc.end], doc.digest(&self.base))
        });
        if let Some(i) = found {
            self.removed[i] = true;
            self.left -= 1;
        }
    }

    /// The pending documents in order, without digests: (text, line,
    /// marked as expanded).
    pub(crate) fn texts(&self) -> impl Iterator<Item = (&str, usize, bool)> + '_ {
        let owned = self.owned.iter().map(|(t, _)| (t.as_str(), 0, true));
        let base = self
            .docs
            .iter()
            .zip(&self.removed)
            .filter(|(_, removed)| !**removed)
            .map(|(doc, _)| (&self.base[doc.start..doc.end], doc.line, doc.expanded));
        owned.chain(base)
    }

    /// The pending documents in order: (text, line, digest).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, usize, Digest)> + '_ {
        let owned = self.owned.iter().map(|(t, d)| (t.as_str(), 0, *d));
        let base = self
            .docs
            .iter()
            .zip(&self.removed)
            .filter(|(_, removed)| !**removed)
            .map(|(doc, _)| {
                let text = &self.base[doc.start..doc.end];
                (text, doc.line, doc.digest(&self.base))
            });
        owned.chain(base)
    }

    /// The file as it should be now: `base` with the taken documents cut
    /// out and the runner's documents before the first pending one, as a
    /// new `Pending` whose documents are all in its base (their digests
    /// kept). O(n): only for the batched rewrite.
    pub(crate) fn rebased(&self) -> Pending {
        let owned_len: usize = self.owned.iter().map(|(t, _)| t.len() + 4).sum();
        let mut out = String::with_capacity(self.base.len() + owned_len);
        let mut docs = Vec::with_capacity(self.len());
        // Where the runner's documents go: before the first pending one.
        let mut owned = (!self.owned.is_empty()).then_some(&self.owned);
        let mut at = 0;
        let mut lines: isize = 0; // new line number - old line number
        for (doc, removed) in self.docs.iter().zip(&self.removed) {
            out.push_str(&self.base[at..doc.start]);
            at = doc.start;
            if *removed {
                lines -= newlines(&self.base[doc.start..doc.end]) as isize;
                at = doc.end;
                continue;
            }
            let mut line = doc.line.saturating_add_signed(lines);
            if let Some(texts) = owned.take() {
                line += push_owned(&mut out, &mut docs, texts, line);
                if !doc.has_marker {
                    // The document has no `---` line: keep it one of its own.
                    out.push_str("---\n");
                    line += 1;
                }
                lines = line as isize - doc.line as isize;
            }
            let mut kept = doc.clone();
            if !doc.has_marker && out.ends_with("---\n") && at == doc.start {
                kept.start = out.len() - 4;
                kept.has_marker = true;
                kept.line = line - 1;
                kept.digest = OnceCell::new(); // its text changed
            } else {
                kept.start = out.len();
                kept.line = line;
            }
            kept.end = out.len() + (doc.end - doc.start);
            docs.push(kept);
            out.push_str(&self.base[doc.start..doc.end]);
            at = doc.end;
        }
        out.push_str(&self.base[at..]);
        if let Some(texts) = owned {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            let line = newlines(&out) + 1;
            push_owned(&mut out, &mut docs, texts, line);
        }
        Pending {
            removed: vec![false; docs.len()],
            left: docs.len(),
            docs,
            base: out,
            cursor: 0,
            owned: VecDeque::new(),
            parked: Vec::new(),
            parked_at: HashMap::new(),
            first_free: 0,
        }
    }

    /// The text `rebased` writes.
    #[cfg(test)]
    pub(crate) fn render(&self) -> String {
        self.rebased().base
    }
}

/// Append the runner's documents to `out` as documents of the base text;
/// the number of lines they take.
fn push_owned(
    out: &mut String,
    docs: &mut Vec<Doc>,
    texts: &VecDeque<(String, Digest)>,
    mut line: usize,
) -> usize {
    let first = line;
    for (text, d) in texts {
        docs.push(Doc {
            start: out.len(),
            end: out.len() + text.len(),
            line,
            has_marker: true,
            expanded: true,
            digest: OnceCell::from(*d),
        });
        out.push_str(text);
        line += newlines(text);
    }
    line - first
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pipelines: a parked document stays pending and in the text, later
    /// ones are taken past it, and it is the head again once unparked; a
    /// rewrite or a new reading parks it again by digest.
    #[test]
    fn parked_documents_are_skipped_until_unparked() {
        let text = "---\na: 1\n---\nb: 2\n---\nc: 3\n";
        let mut pending = Pending::new(text.to_owned());
        let none = HashSet::new();
        let (_, at) = pending.head_skipping(&none).unwrap();
        let a = pending.docs[0].digest(&pending.base);
        assert!(pending.park(at));
        let (head, at) = pending.head_skipping(&none).unwrap();
        assert_eq!(head.text, "---\nb: 2\n");
        pending.take_at(at);
        assert_eq!(pending.len(), 2);
        assert_eq!(pending.render(), "---\na: 1\n---\nc: 3\n");
        let mut rebased = pending.rebased();
        rebased.park_again(&HashSet::from([a]));
        assert_eq!(rebased.head_skipping(&none).unwrap().0.text, "---\nc: 3\n");
        rebased.unpark(&a);
        assert_eq!(rebased.head_skipping(&none).unwrap().0.text, "---\na: 1\n");
        // Parked behind the head: nothing changes for the head.
        let (_, at) = rebased.head_skipping(&none).unwrap();
        rebased.park(at);
        let (_, at) = rebased.head_skipping(&none).unwrap();
        rebased.park(at);
        assert!(rebased.head_skipping(&none).is_none());
        assert_eq!(rebased.len(), 2);
        rebased.unpark_all();
        assert_eq!(rebased.head_skipping(&none).unwrap().0.text, "---\na: 1\n");
    }

    #[test]
    fn takes_cut_the_text_and_keep_comments() {
        let text = "# header\n---\na: 1\n# about b\n---\nb: 2\n---\nc: 3\n";
        let mut pending = Pending::new(text.to_owned());
        assert_eq!(pending.len(), 3);
        assert_eq!(pending.head().unwrap().text, "---\na: 1\n");
        pending.take();
        assert_eq!(
            pending.render(),
            "# header\n# about b\n---\nb: 2\n---\nc: 3\n"
        );
        pending.push_front(["--- # expanded by cool-runner\nz: 0\n".to_owned()].into_iter());
        assert_eq!(
            pending.head().unwrap().text,
            "--- # expanded by cool-runner\nz: 0\n"
        );
        assert_eq!(
            pending.render(),
            "# header\n# about b\n--- # expanded by cool-runner\nz: 0\n---\nb: 2\n---\nc: 3\n"
        );
        assert!(pending.remove(&digest("---\nc: 3\n")));
        pending.take();
        pending.take();
        assert_eq!(pending.len(), 0);
        assert!(pending.take().is_none());
        assert_eq!(pending.render(), "# header\n# about b\n");
        let mut bare = Pending::new("a: 1".to_owned());
        bare.push_front(["--- # expanded by cool-runner\nz: 0\n".to_owned()].into_iter());
        assert_eq!(
            bare.render(),
            "--- # expanded by cool-runner\nz: 0\n---\na: 1"
        );
        assert_same_as_read(&bare);
        let mut middle = Pending::new("---\na: 1\n---\nb: 2\n---\nc: 3\n".to_owned());
        middle.remove(&digest("---\nb: 2\n"));
        assert_eq!(middle.render(), "---\na: 1\n---\nc: 3\n");
        assert_same_as_read(&middle);
        let text = "# h\n---\na: 1\n# c\n---\nb: 2\nx: |\n  y\n# after\n";
        let mut runs = Pending::new(text.to_owned());
        runs.take();
        runs.push_front(
            [
                "--- # expanded by cool-runner\nz: 0\nw: 1\n".to_owned(),
                "--- # expanded by cool-runner\nv: 0\n".to_owned(),
            ]
            .into_iter(),
        );
        assert_same_as_read(&runs);
        runs.take();
        runs.take();
        runs.take();
        runs.push_front(["--- # expanded by cool-runner\nq: 0\n".to_owned()].into_iter());
        assert_same_as_read(&runs);
    }

    /// `rebased` knows the places, lines and digests that reading its text
    /// would find.
    fn assert_same_as_read(pending: &Pending) {
        let rebased = pending.rebased();
        let read = Pending::new(rebased.base.clone());
        let places = |p: &Pending| -> Vec<(usize, usize, usize, bool, bool, Digest)> {
            p.docs
                .iter()
                .map(|d| {
                    (
                        d.start,
                        d.end,
                        d.line,
                        d.has_marker,
                        d.expanded,
                        d.digest(&p.base),
                    )
                })
                .collect()
        };
        assert_eq!(places(&rebased), places(&read), "{:?}", rebased.base);
    }
}
