//! The queue of pending experiments (SPEC §4): in memory, or a YAML file
//! that people may edit while the runner works, watched for changes.

mod api;
mod file;
mod memory;
mod segments;
mod watch;

pub(crate) use api::{Peek, Queue, QueueError, QueueReport};
pub(crate) use file::FileQueue;
pub(crate) use memory::MemoryQueue;
pub(crate) use watch::QueueWatcher;
