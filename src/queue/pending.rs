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

use std::collections::VecDeque;

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
    digest: Digest,
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
                digest: digest(&base[s.start..s.end]),
            })
            .collect();
        Self {
            removed: vec![false; docs.len()],
            left: docs.len(),
            docs,
            base,
            cursor: 0,
            owned: VecDeque::new(),
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

    pub(crate) fn head(&self) -> Option<Head<'_>> {
        if let Some((text, _)) = self.owned.front() {
            return Some(Head {
                text,
                line: 0,
                expanded: true,
            });
        }
        let doc = self.docs[self.cursor..]
            .iter()
            .zip(&self.removed[self.cursor..])
            .find(|(_, removed)| !**removed)?
            .0;
        Some(Head {
            text: &self.base[doc.start..doc.end],
            line: doc.line,
            expanded: doc.expanded,
        })
    }

    /// Remove the head; its digest.
    pub(crate) fn take(&mut self) -> Option<Digest> {
        if let Some((_, digest)) = self.owned.pop_front() {
            return Some(digest);
        }
        self.skip_removed();
        let doc = self.docs.get(self.cursor)?;
        self.removed[self.cursor] = true;
        self.left -= 1;
        Some(doc.digest)
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
            .find(|&i| !self.removed[i] && self.docs[i].digest == *target);
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
            .map(|(doc, _)| (&self.base[doc.start..doc.end], doc.digest))
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
            !self.removed[i] && matches(&self.base[doc.start..doc.end], doc.digest)
        });
        if let Some(i) = found {
            self.removed[i] = true;
            self.left -= 1;
        }
    }

    /// The pending documents in order: (text, line, digest).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, usize, Digest)> + '_ {
        let owned = self.owned.iter().map(|(t, d)| (t.as_str(), 0, *d));
        let base = self
            .docs
            .iter()
            .zip(&self.removed)
            .filter(|(_, removed)| !**removed)
            .map(|(doc, _)| (&self.base[doc.start..doc.end], doc.line, doc.digest));
        owned.chain(base)
    }

    /// The file as it should be now: `base` with the taken documents cut
    /// out and the runner's documents before the first pending one. O(n):
    /// only for the batched rewrite.
    pub(crate) fn render(&self) -> String {
        let mut out = String::with_capacity(self.base.len() + 64);
        let mut at = 0;
        let mut owned_done = self.owned.is_empty();
        for (doc, removed) in self.docs.iter().zip(&self.removed) {
            if *removed {
                out.push_str(&self.base[at..doc.start]);
                at = doc.end;
                continue;
            }
            if !owned_done {
                out.push_str(&self.base[at..doc.start]);
                at = doc.start;
                self.owned.iter().for_each(|(t, _)| out.push_str(t));
                if !doc.has_marker {
                    // The document has no `---` line: keep it one of its own.
                    out.push_str("---\n");
                }
                owned_done = true;
            }
        }
        out.push_str(&self.base[at..]);
        if !owned_done {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            self.owned.iter().for_each(|(t, _)| out.push_str(t));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        pending.push_front(["--- # x\nz: 0\n".to_owned()].into_iter());
        assert_eq!(pending.head().unwrap().text, "--- # x\nz: 0\n");
        assert_eq!(
            pending.render(),
            "# header\n# about b\n--- # x\nz: 0\n---\nb: 2\n---\nc: 3\n"
        );
        assert!(pending.remove(&digest("---\nc: 3\n")));
        pending.take();
        pending.take();
        assert_eq!(pending.len(), 0);
        assert!(pending.take().is_none());
        assert_eq!(pending.render(), "# header\n# about b\n");
        let mut bare = Pending::new("a: 1".to_owned());
        bare.push_front(["--- # x\nz: 0\n".to_owned()].into_iter());
        assert_eq!(bare.render(), "--- # x\nz: 0\n---\na: 1");
        let mut middle = Pending::new("---\na: 1\n---\nb: 2\n---\nc: 3\n".to_owned());
        middle.remove(&digest("---\nb: 2\n"));
        assert_eq!(middle.render(), "---\na: 1\n---\nc: 3\n");
    }
}
