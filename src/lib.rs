//! cool-runner: expand, run, log and query experiments described in YAML.
//!
//! The modules read as the data flows: `config` loads and expands the
//! experiment file (using `expr` for `parse` values) into a `queue` of
//! pending experiments; the `runner` session admits them one by one and
//! hands each to an `executor` (a local process, or a mock in tests), which
//! owns the job's workspace (run directory, results, output tail); events of
//! the run go to observers: the `yaml_log` writer, the results `store`, the
//! Slack `notifier` and the progress display. `filter` queries the logs.
//! `yaml` reads and writes YAML, `commands` has one file per subcommand and
//! `cli` the command line.

pub(crate) mod cli;
pub(crate) mod commands;
pub mod config;
pub mod error;
pub(crate) mod executor;
pub mod expr;
pub(crate) mod filter;
pub(crate) mod model;
pub(crate) mod notifier;
pub(crate) mod queue;
pub(crate) mod runner;
pub(crate) mod secrets;
#[cfg(feature = "web")]
pub(crate) mod serve;
pub mod store;
pub(crate) mod yaml;
pub(crate) mod yaml_log;

use std::ffi::OsString;
use std::io::Write;

use crate::cli::Command;
use crate::error::exit;

/// Run the program with these arguments (the first is the program name) and
/// return the exit status. Errors are printed here, once.
pub fn main<I: IntoIterator<Item = OsString>>(args: I) -> i32 {
    let args: Vec<OsString> = args.into_iter().collect();
    // The runner's own helper process, not a command for people.
    if args
        .get(1)
        .is_some_and(|a| a == executor::watchdog::COMMAND)
    {
        return executor::watchdog::run();
    }
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
        Command::Run(args) => {
            commands::run::RunSettings::from_args(args).and_then(|s| commands::run::run(&s))
        }
        Command::Collect(args) => commands::collect::CollectSettings::from_args(args)
            .and_then(|s| commands::collect::collect(&s)),
        Command::Filter(args) => commands::filter::FilterSettings::from_args(args)
            .and_then(|s| commands::filter::filter(&s)),
        Command::Status(args) => commands::status::status(&args),
        Command::Log(args) => commands::log::log(&args),
        Command::Serve(args) => commands::serve::serve(&args),
        Command::Explain(args) => commands::explain::explain(&args),
        Command::Attach(args) => commands::attach::attach(&args),
        Command::Exec(args) => commands::exec::exec(&args),
        Command::Completions { shell } => commands::shell::completions(shell),
        Command::Man { dir } => commands::shell::man(dir.as_deref()),
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
