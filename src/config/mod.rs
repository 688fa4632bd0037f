//! The experiment file: loading, overrides, merging and expansion (SPEC §1–2).

mod error;
mod expand;
mod load;
mod merge;
mod overrides;

pub use error::{ConfigError, Location};
pub use expand::{expand_file, expand_path, ExpandOptions, Expander, Expansion, RUNNER_KEYS};
pub use load::{load_file, parse_text, ExperimentFile, SourceText};
pub use merge::merge_over;
pub use overrides::{apply_override, Override};
