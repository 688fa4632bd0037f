//! The queue without `Global.queue`: a deque in memory.

use std::collections::VecDeque;

use yaml_serde::Mapping;

use super::api::{Peek, Queue, QueueError, QueueReport};

#[derive(Debug, Default)]
pub(crate) struct MemoryQueue {
    docs: VecDeque<Mapping>,
}

impl MemoryQueue {
    pub(crate) fn new(docs: impl IntoIterator<Item = Mapping>) -> Self {
        Self {
            docs: docs.into_iter().collect(),
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
            self.docs.push_front(doc.clone());
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
