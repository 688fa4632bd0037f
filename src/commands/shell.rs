//! `completions` and `man`: the command line described for shells and for
//! `man`, generated from the same clap definitions as `--help`.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::{exit, Error};

/// Print the completion script for `shell` on stdout.
pub(crate) fn completions(shell: clap_complete::Shell) -> Result<i32, Error> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "cool-runner", &mut out);
    std::io::stdout().write_all(&out).map_err(Error::Output)?;
    Ok(exit::OK)
}

/// Print the man page on stdout, or write one page per command into `dir`
/// (`cool-runner.1`, `cool-runner-run.1`, ...).
pub(crate) fn man(dir: Option<&Path>) -> Result<i32, Error> {
    let command = Cli::command();
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(Error::Output)?;
            clap_mangen::generate_to(command, dir).map_err(Error::Output)?;
        }
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut out)
                .map_err(Error::Output)?;
            std::io::stdout().write_all(&out).map_err(Error::Output)?;
        }
    }
    Ok(exit::OK)
}
