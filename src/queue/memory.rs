//! The queue without `Global.queue`: a deque in memory. Everything in it
//! was expanded by the runner.

use std::collections::{HashMap, VecDeque};

use yaml_serde::Mapping;

use super::api::{Launch, Peek, Queue, QueueError, QueueReport, Ticket};
use super::entry::QueueEntry;

#[derive(Debug, Default)]
pub(crate) struct MemoryQueue {
    docs: VecDeque<QueueEntry>,
    running: HashMap<Ticket, Mapping>,
    next: Ticket,
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
            ..Self::default()
        }
    }
}

impl Queue for MemoryQueue {
    fn peek(&mut self) -> Peek {
        self.docs.front().cloned().map_or(Peek::Empty, Peek::Next)
    }

    fn commit(
        &mut self,
        replacement: &[Mapping],
        started: Option<Launch<'_>>,
    ) -> Result<Option<Ticket>, QueueError> {
        self.docs.pop_front();
        for doc in replacement.iter().rev() {
            self.docs.push_front(QueueEntry::Expanded(doc.clone()));
        }
        Ok(started.map(|started| {
            self.next += 1;
            self.running.insert(self.next, started.experiment.clone());
            self.next
        }))
    }

    fn finished(&mut self, ticket: Ticket) -> Result<(), QueueError> {
        self.running.remove(&ticket);
        Ok(())
    }

    fn requeue(&mut self, tickets: &[Ticket]) -> Result<(), QueueError> {
        for ticket in tickets.iter().rev() {
            if let Some(doc) = self.running.remove(ticket) {
                self.docs.push_front(QueueEntry::Expanded(doc));
            }
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
