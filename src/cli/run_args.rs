//! `run`'s arguments, sorted into the runner's flags, overrides and the
//! module's own arguments.
//!
//! clap cannot skip unknown flags between known ones, so the arguments are
//! sorted first, using clap's own list of `run` flags. An unknown argument
//! goes to the module, unless it looks like a mistake that would otherwise
//! run a whole sweep for nothing:
//!
//! * a near miss of a runner option (`--dry-run`, `--gpu`, `--fail_fast`):
//!   an error that names the option meant;
//! * a bare `key=value` (Hydra's override syntax): an error that shows the
//!   runner's `+key=value`.
//!
//! Everything after `--` goes to the module unchecked.

use std::ffi::OsString;

use clap::CommandFactory;

use super::Cli;

/// Spellings from other tools that mean a runner option, beyond typos.
const ALIASES: [(&str, &str); 4] = [
    ("dry-run", "dry"),
    ("dryrun", "dry"),
    ("no-cache", "no-store"),
    ("nocache", "no-store"),
];

/// One flag of `run`: long name, short name, whether it takes a value.
type Flag = (Option<String>, Option<char>, bool);

/// `run`'s arguments, sorted: (flags clap knows, overrides, module args).
type Sorted = (Vec<OsString>, Vec<String>, Vec<OsString>);

/// Sort `run`'s arguments; the error is a message for people.
pub(super) fn split_run_args(args: &[OsString]) -> Result<Sorted, String> {
    let command = Cli::command();
    let run = command
        .find_subcommand("run")
        .expect("the `run` subcommand exists");
    let flags: Vec<Flag> = run
        .get_arguments()
        .filter(|a| !a.is_positional())
        .map(|a| {
            (
                a.get_long().map(str::to_owned),
                a.get_short(),
                a.get_action().takes_values(),
            )
        })
        .chain([(Some("help".to_owned()), Some('h'), false)])
        .collect();
    // Flags whose value is optional (`--serve [PORT]`, `--graph [FORMAT]`)
    // take the next argument only when it is a number or one of the
    // flag's possible values.
    let optional: Vec<&str> = run
        .get_arguments()
        .filter(|a| a.get_num_args().is_some_and(|n| n.min_values() == 0))
        .filter_map(|a| a.get_long())
        .collect();
    let optional_without_value = |text: &str, next: &OsString| {
        let Some(long) = text.strip_prefix("--").filter(|l| optional.contains(l)) else {
            return false;
        };
        let choices: Vec<String> = run
            .get_arguments()
            .find(|a| a.get_long() == Some(long))
            .map(|a| {
                a.get_possible_values()
                    .iter()
                    .map(|v| v.get_name().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        !next.to_str().is_some_and(|n| {
            !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) || choices.iter().any(|c| c == n)
        })
    };

    let mut known = Vec::new();
    let mut overrides = Vec::new();
    let mut module = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        let text = arg.to_string_lossy();
        i += 1;
        if text == "--" {
            module.extend(args[i..].iter().cloned());
            break;
        }
        if text.starts_with('+') && text.contains('=') {
            overrides.push(text.into_owned());
            continue;
        }
        match flag(&flags, &text) {
            Some(takes_next) => {
                known.push(arg.clone());
                if takes_next && i < args.len() && !optional_without_value(&text, &args[i]) {
                    known.push(args[i].clone());
                    i += 1;
                }
            }
            None => {
                if let Some(message) = mistake(&flags, &text) {
                    return Err(message);
                }
                module.push(arg.clone());
            }
        }
    }
    Ok((known, overrides, module))
}

/// `Some(takes the next argument)` when `text` is one of the runner's flags.
fn flag(flags: &[Flag], text: &str) -> Option<bool> {
    if let Some(long) = text.strip_prefix("--") {
        let name = long.split('=').next().unwrap_or_default();
        flags
            .iter()
            .find(|f| f.0.as_deref() == Some(name))
            .map(|f| f.2 && !long.contains('='))
    } else if let Some(short) = text.strip_prefix('-') {
        let mut chars = short.chars();
        match (chars.next(), chars.next()) {
            (Some(c), rest) => flags
                .iter()
                .find(|f| f.1 == Some(c))
                .map(|f| f.2 && rest.is_none()),
            _ => None,
        }
    } else {
        None
    }
}

/// Why an argument that is not a runner flag is probably a mistake.
fn mistake(flags: &[Flag], text: &str) -> Option<String> {
    let escape = format!("(to pass `{text}` to the module, put it after `--`)");
    if let Some(word) = text
        .strip_prefix("--")
        .or_else(|| text.strip_prefix('-').filter(|w| w.chars().count() > 1))
    {
        let name = word.split('=').next().unwrap_or_default();
        let longs: Vec<&str> = flags.iter().filter_map(|f| f.0.as_deref()).collect();
        return near_option(name, &longs)
            .map(|near| format!("unknown option `{text}`; did you mean `--{near}`? {escape}"));
    }
    let (key, value) = text.split_once('=')?;
    let is_path = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    is_path.then(|| {
        format!(
            "`{text}` looks like an override, but overrides start with `+`: write \
             `+{key}={value}` to set `{key}` in the default config {escape}"
        )
    })
}

/// The runner option that `name` (without dashes) is a near miss of: a
/// known spelling of another tool, a different case or `_` for `-`, or a
/// small edit (one for short names, two for longer ones).
fn near_option<'a>(name: &str, longs: &[&'a str]) -> Option<&'a str> {
    let name = name.to_lowercase().replace('_', "-");
    if let Some((_, meant)) = ALIASES.iter().find(|(alias, _)| *alias == name) {
        return longs.iter().copied().find(|l| l == meant);
    }
    longs
        .iter()
        .map(|l| (strsim::osa_distance(&name, l), *l))
        .filter(|&(distance, l)| {
            distance <= if l.len() <= 5 { 1 } else { 2 } && distance < name.len()
        })
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, l)| l)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(args: &[&str]) -> Result<Vec<OsString>, String> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        split_run_args(&args).map(|(_, _, module)| module)
    }

    #[test]
    fn near_misses_of_runner_options_are_errors() {
        for (arg, meant) in [
            ("--dry-run", "`--dry`"),
            ("--gpu", "`--gpus`"),
            ("--fail_fast", "`--fail-fast`"),
            ("--no-cache", "`--no-store`"),
            ("--folow", "`--follow`"),
            ("-dry", "`--dry`"),
            ("--job=2", "`--jobs`"),
        ] {
            let err = split(&[arg]).unwrap_err();
            assert!(
                err.contains(meant) && err.contains("after `--`"),
                "{arg}: {err}"
            );
        }
    }

    #[test]
    fn bare_key_value_hints_at_plus() {
        let err = split(&["lr=0.1"]).unwrap_err();
        assert!(err.contains("`+lr=0.1`"), "{err}");
        assert!(split(&["optimizer.lr=1e-3"]).is_err());
    }

    #[test]
    fn module_arguments_and_escapes_pass() {
        let passed = [
            "--gpu-mem",
            "8",
            "--lr",
            "0.1",
            "-v",
            "--epochs=3",
            "--step",
            "--width",
            "x/y=1",
        ];
        assert_eq!(split(&passed).unwrap().len(), passed.len());
        assert_eq!(
            split(&["--", "--dry-run", "lr=0.1"]).unwrap(),
            ["--dry-run", "lr=0.1"]
        );
        assert_eq!(split(&["--", "--gpu"]).unwrap(), ["--gpu"]);
    }
}
