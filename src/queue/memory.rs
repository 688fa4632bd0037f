//! The queue without `Global.queue`: a deque in memory. Everything in it
//! was expanded by the runner.

use std::collections::VecDeque;

use yaml_serde::Mapping;

use super::api::{Peek, Queue, QueueError, QueueReport};
use super::entry::QueueEntry;

#[derive(Debug, Default)]
pub(crate) struct MemoryQueue {
    docs: VecDeque<QueueEntry>,
}

impl MemoryQueue {
    /// A queue of expanded experiments.
    pub(crate) fn new(experiments: impl IntoIterator<Item = Mapping>) -> Self {
        Self::with_entries(experiments.into_iter().map(QueueEntry::Expanded))
    }

    /// A queue of entries in any state (tests put a person's document in).
    pub(crate) fn with_entries(entries: impl IntoIterator<Item = QueueEntry>) -> Self {
        Self {
            docs: entries.into_iter().collect(),
        }
    }
}

impl Queue for MemoryQueue {
    fn peek(&mut self) -> Peek {
        self.docs.front().cloned().map_or(Peek::Empty, Peek::Next)
    }

    fn commit(&mut self, replacement: &[Mapping]) -> Result<(), QueueError> {
        self.docs.pop_front();
        self.push_front(replacement)
    }

    fn push_front(&mut self, docs: &[Mapping]) -> Result<(), QueueError> {
        for doc in docs.iter().rev() {
            self.docs.push_front(QueueEntry::Expanded(doc.clone()));
        }
        Ok(())
    }

    fn refresh(&mut self) {}

    fn pending(&self) -> usize {
        self.docs.len()
    }

    fn take_reports(&mut self) -> Vec<QueueReport> {
        Vec::new()
    }

    fn finish(&mut self, _keep: bool) -> Result<(), QueueError> {
        Ok(())
    }
}
