//! The `filter` subcommand: select, sort, project and tabulate logged
//! experiments, or aggregate them by configuration.

mod aggregate;
mod args;
mod command;
mod format;
mod query;
mod settings;
mod sort;

pub use args::expand_arg_files;
pub use command::filter;
pub use settings::FilterSettings;
