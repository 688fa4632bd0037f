//! The queue without `Global.queue`: a deque in memory. Everything in it
//! was expanded by the runner.

use std::collections::{HashMap, HashSet, VecDeque};

use yaml_serde::Mapping;

use super::api::{Launch, ParkId, Peek, Queue, QueueError, QueueReport, Ticket};
use super::entry::QueueEntry;

#[derive(Debug, Default)]
pub(crate) struct MemoryQueue {
    /// Pending documents, each with an id for parking.
    docs: VecDeque<(ParkId, QueueEntry)>,
    running: HashMap<Ticket, Mapping>,
    next: Ticket,
    next_id: ParkId,
    parked: HashSet<ParkId>,
    /// The id of the document the last `peek` returned.
    peeked: Option<ParkId>,
    /// Every document before this index is parked: peeks past parked
    /// documents cost O(1) until one is unparked.
    first_free: usize,
}

impl MemoryQueue {
    /// A queue of expanded experiments.
    pub(crate) fn new(experiments: impl IntoIterator<Item = Mapping>) -> Self {
        Self::with_entries(experiments.into_iter().map(QueueEntry::Expanded))
    }

    /// A queue of entries in any state (tests put a person's document in).
    pub(crate) fn with_entries(entries: impl IntoIterator<Item = QueueEntry>) -> Self {
        let mut queue = Self::default();
        for entry in entries {
            let id = queue.id();
            queue.docs.push_back((id, entry));
        }
        queue
    }

    fn id(&mut self) -> ParkId {
        self.next_id += 1;
        self.next_id
    }
}

impl Queue for MemoryQueue {
    fn peek(&mut self) -> Peek {
        let mut i = self.first_free;
        while i < self.docs.len() && self.parked.contains(&self.docs[i].0) {
            i += 1;
        }
        self.first_free = i;
        let head = self.docs.get(i);
        self.peeked = head.map(|(id, _)| *id);
        head.map_or(Peek::Empty, |(_, entry)| Peek::Next(entry.clone()))
    }

    fn commit(
        &mut self,
        replacement: &[Mapping],
        started: Option<Launch<'_>>,
    ) -> Result<Option<Ticket>, QueueError> {
        let at = match self.peeked.take() {
            Some(peeked) => self.docs.iter().position(|(id, _)| *id == peeked),
            None => None,
        };
        let at = at.unwrap_or(0);
        self.docs.remove(at);
        for doc in replacement.iter().rev() {
            let id = self.id();
            self.docs
                .insert(at, (id, QueueEntry::Expanded(doc.clone())));
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
                let id = self.id();
                self.docs.push_front((id, QueueEntry::Expanded(doc)));
                self.first_free = 0;
            }
        }
        Ok(())
    }

    fn refresh(&mut self) {}

    fn park(&mut self) -> Option<ParkId> {
        let id = self.peeked.take()?;
        self.parked.insert(id);
        Some(id)
    }

    fn unpark(&mut self, ids: &[ParkId]) {
        for id in ids {
            self.parked.remove(id);
        }
        self.first_free = 0;
    }

    fn unpark_all(&mut self) {
        self.parked.clear();
        self.first_free = 0;
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(name: &str) -> Mapping {
        let mut map = Mapping::new();
        map.insert("Name".into(), name.into());
        map
    }

    fn head(queue: &mut MemoryQueue) -> Option<String> {
        match queue.peek() {
            Peek::Next(entry) => entry
                .get("Name")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
            _ => None,
        }
    }

    /// Pipelines: a parked experiment stays pending, those behind it are
    /// taken, and it is the head again once unparked.
    #[test]
    fn parked_experiments_are_skipped_until_unparked() {
        let mut queue = MemoryQueue::new([doc("a"), doc("b"), doc("c")]);
        assert_eq!(head(&mut queue).as_deref(), Some("a"));
        let a = queue.park().unwrap();
        assert_eq!(head(&mut queue).as_deref(), Some("b"));
        queue.commit(&[], None).unwrap();
        assert_eq!(queue.pending(), 2);
        assert_eq!(head(&mut queue).as_deref(), Some("c"));
        let c = queue.park().unwrap();
        assert_eq!(head(&mut queue), None);
        queue.unpark(&[c]);
        assert_eq!(head(&mut queue).as_deref(), Some("c"));
        queue.unpark(&[a]);
        assert_eq!(head(&mut queue).as_deref(), Some("a"));
        queue.commit(&[doc("a2")], None).unwrap();
        assert_eq!(head(&mut queue).as_deref(), Some("a2"));
    }
}
