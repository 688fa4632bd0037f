//! The `run` subcommand: settings, expansion, `--pick`, `--dry`.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use yaml_serde::Mapping;

use crate::cli::RunArgs;
use crate::config::{self, ExpandOptions, Expansion, Override};
use crate::error::{exit, Error};
use crate::expr::Sandbox;

/// `run`'s arguments, resolved.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub exp: PathBuf,
    pub dry: bool,
    pub pick: Option<Vec<usize>>,
    pub seed: Option<u64>,
    pub follow: bool,
    pub fail_fast: bool,
    pub overrides: Vec<Override>,
    pub module_args: Vec<OsString>,
}

impl RunSettings {
    pub fn from_args(args: RunArgs) -> Result<Self, Error> {
        let overrides = args
            .overrides
            .iter()
            .map(|o| Override::parse(o))
            .collect::<Result<Vec<_>, _>>()?;
        let pick = args.pick.as_deref().map(parse_pick).transpose()?;
        Ok(Self {
            exp: args.exp,
            dry: args.dry,
            pick,
            seed: args.seed,
            follow: args.follow,
            fail_fast: args.fail_fast,
            overrides,
            module_args: args.module_args,
        })
    }
}

/// `0,1,3` or `2-5` or a mix.
fn parse_pick(text: &str) -> Result<Vec<usize>, Error> {
    let bad = |part: &str| {
        Error::Usage(format!(
            "invalid `--pick` entry `{part}`: expected indices like `0,1,3` or a range `2-5`"
        ))
    };
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if let Some((a, b)) = part.split_once('-') {
            let a: usize = a.trim().parse().map_err(|_| bad(part))?;
            let b: usize = b.trim().parse().map_err(|_| bad(part))?;
            if b < a {
                return Err(bad(part));
            }
            out.extend(a..=b);
        } else {
            out.push(part.parse().map_err(|_| bad(part))?);
        }
    }
    if out.is_empty() {
        return Err(bad(text));
    }
    Ok(out)
}

/// Load and expand the experiment file, then apply `--pick`.
pub fn expand(settings: &RunSettings, sandbox: &Sandbox) -> Result<Expansion, Error> {
    let file = config::load_file(&settings.exp)?;
    let options = ExpandOptions {
        seed: settings.seed,
        host: host_name(),
    };
    let mut expansion = config::expand_file(sandbox, &file, &settings.overrides, &options)?;
    if let Some(pick) = &settings.pick {
        expansion.experiments = pick_indices(&expansion.experiments, pick)?;
    }
    Ok(expansion)
}

fn pick_indices(experiments: &[Mapping], pick: &[usize]) -> Result<Vec<Mapping>, Error> {
    pick.iter()
        .map(|&i| {
            experiments.get(i).cloned().ok_or_else(|| {
                Error::Usage(format!(
                    "`--pick {i}` is out of range: the expanded queue holds {} experiment(s) (0..{})",
                    experiments.len(),
                    experiments.len().saturating_sub(1)
                ))
            })
        })
        .collect()
}

/// Run the `run` subcommand; returns the exit status.
pub fn run(settings: &RunSettings) -> Result<i32, Error> {
    let sandbox = Sandbox::new();
    let expansion = expand(settings, &sandbox)?;
    if settings.dry {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
        match crate::yaml_out::write_documents(&mut out, &expansion.experiments) {
            Ok(()) => {}
            // `| head` closed the pipe: that is not an error.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(exit::OK),
            Err(e) => return Err(Error::Output(e)),
        }
        drop(out);
        let _ = writeln!(
            std::io::stderr(),
            "{} experiment(s) expanded from {} (dry run: nothing was run)",
            expansion.experiments.len(),
            settings.exp.display()
        );
        return Ok(exit::OK);
    }
    Err(Error::NotImplemented("run without --dry"))
}

/// The machine's host name, for `HOST`.
pub fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    use super::parse_pick;

    #[test]
    fn pick_lists_and_ranges() {
        assert_eq!(parse_pick("0,1,3").unwrap(), [0, 1, 3]);
        assert_eq!(parse_pick("2-4, 7").unwrap(), [2, 3, 4, 7]);
        assert!(parse_pick("a").is_err());
        assert!(parse_pick("4-2").is_err());
        assert!(parse_pick("").is_err());
    }
}
