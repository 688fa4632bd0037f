//! The `YamlLog` (SPEC §5): one whole YAML document per finished experiment.

mod record;
mod writer;

pub use record::{rfc3339, signal_name, Record, Status};
pub use writer::{append, sync, LogError};
