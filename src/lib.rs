//! cool-runner: expand, run, log and query experiments described in YAML.
//!
//! The pipeline reads like the module list: `config` loads and expands the
//! experiment file (using `expr` for `parse` values), `run` drives a run
//! through `runner` (session, executors, signals, progress) with a `queue`
//! of pending experiments, `yaml_log` records finished ones, `notifier`
//! posts to Slack, `yaml_out` writes YAML streams, `collect` gathers logs
//! and `filter` queries them (both read logs through `yaml_stream`).

pub mod cli;
pub mod collect;
pub mod config;
pub mod error;
pub mod explain;
pub mod expr;
pub mod filter;
pub mod notifier;
pub mod output_file;
pub mod queue;
pub mod run;
pub mod runner;
pub mod status;
pub mod store;
pub mod yaml_fast;
pub mod yaml_log;
pub mod yaml_out;
pub mod yaml_stream;

use std::ffi::OsString;
use std::io::Write;

use crate::cli::Command;
use crate::error::exit;

/// Run the program with these arguments (the first is the program name) and
/// return the exit status. Errors are printed here, once.
pub fn main<I: IntoIterator<Item = OsString>>(args: I) -> i32 {
    let cli = match cli::parse(args) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                exit::BAD_INPUT
            } else {
                exit::OK
            };
        }
    };
    let result = match cli.command {
        Command::Run(args) => run::RunSettings::from_args(args).and_then(|s| run::run(&s)),
        Command::Collect(args) => {
            collect::CollectSettings::from_args(args).and_then(|s| collect::collect(&s))
        }
        Command::Filter(args) => {
            filter::FilterSettings::from_args(args).and_then(|s| filter::filter(&s))
        }
        Command::Status(args) => status::status(&args),
        Command::Explain(args) => explain::explain(&args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "error: {err}");
            err.exit_code()
        }
    }
}
