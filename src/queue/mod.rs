//! The queue of pending experiments (SPEC §4): in memory, or a YAML file
//! that people may edit while the runner works, watched for changes.

mod api;
mod file;
mod memory;
mod segments;
mod watch;

pub use api::{Peek, Queue, QueueError, QueueReport};
pub use file::FileQueue;
pub use memory::MemoryQueue;
pub use watch::QueueWatcher;
