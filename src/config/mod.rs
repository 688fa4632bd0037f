//! The experiment file: loading, overrides, merging and expansion (SPEC §1–2).
//!
//! `pipeline` drives the expansion of a file (`expand_text`, `expand_path`):
//! `prepare` merges each document over the defaults and makes its copies,
//! `evaluate` runs its `parse` values; `names` knows what expressions read.

mod awaits;
mod error;
mod evaluate;
mod load;
mod merge;
mod names;
mod overrides;
mod pipeline;
mod prepare;
mod sweep;
#[cfg(test)]
mod tests;

pub(crate) use awaits::{after_names, global_rep, waits_for};
pub use error::{ConfigError, Location};
pub use evaluate::Expander;
pub use load::{load_file, parse_text, ExperimentFile, SourceText};
pub use merge::merge_over;
pub(crate) use names::PARSE_PREFIX;
pub use overrides::{apply_override, Override, Shadowing};
pub use pipeline::{expand_path, expand_path_into, expand_text, expand_text_into, Expansion, Sink};
pub use prepare::{ExpandOptions, RND_IDX_GIVEN, RUNNER_KEYS};
