//! The `YamlLog` (SPEC §5): one whole YAML document per finished experiment.

mod record;
mod writer;

pub(crate) use record::{rfc3339, signal_name, Record, Status};
pub(crate) use writer::{append, sync};
