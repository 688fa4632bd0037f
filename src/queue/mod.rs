//! The queue of pending experiments (SPEC §4): in memory, or a YAML file
//! that people may edit while the runner works, watched for changes. Each
//! entry says whether it is already expanded (`entry.rs`).

mod api;
mod disk;
mod documents;
mod entry;
mod file;
mod journal;
mod lock;
mod memory;
mod pending;
mod segments;
mod watch;

pub(crate) use api::{Launch, ParkId, Peek, Queue, QueueError, QueueReport, Ticket};
pub(crate) use entry::QueueEntry;
pub(crate) use file::FileQueue;
pub(crate) use journal::source_digest;
pub(crate) use memory::MemoryQueue;
pub(crate) use watch::QueueWatcher;
