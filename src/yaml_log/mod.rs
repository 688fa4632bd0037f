//! The `YamlLog` (SPEC §5): one whole YAML document per finished experiment.

mod observer;
mod record;
mod writer;

pub(crate) use observer::LogWriter;
pub(crate) use record::{rfc3339, signal_name, Record, Status};
use writer::{append, sync};
