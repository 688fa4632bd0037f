//! `Global`: the runner's settings in the default config (document 0),
//! read once and used by every command. An unknown key is bad input, with
//! the nearest known key as a hint (`Global: {repaet: 3}`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use yaml_serde::{Mapping, Value};

use super::keys::{self, unknown_key_message};
use crate::config::{ConfigError, Location, SourceText};
use crate::error::Error;
use crate::notifier::{SlackConfigError, SlackSettings};

/// Every key `Global` may hold, in the order the README lists them.
pub(crate) const GLOBAL_KEYS: [&str; 11] = [
    "repeat",
    "queue",
    "runs",
    "grace",
    "jobs",
    "gpus",
    "store",
    "slack",
    "max_experiments",
    "executor",
    "slurm",
];

/// The most copies `Repeat` makes of one document, and the most rounds
/// `Global.repeat` makes of the file: far above any real sweep.
pub(crate) const MAX_REPEAT: u64 = 1_000_000;
/// The most experiments one file expands to unless `Global.max_experiments`
/// says otherwise. Each takes about 2 KB in memory (more with large
/// values), so this bounds expansion to a few GB.
pub(crate) const MAX_EXPERIMENTS: u64 = 1_000_000;

/// `Global.runs` when it is not set.
pub(crate) const DEFAULT_RUNS: &str = "runs";
/// `Global.grace` when it is not set.
pub(crate) const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// The runner's settings (`Global`), typed and checked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Global {
    /// How many times the whole experiment list is expanded (≥ 1).
    pub repeat: u64,
    /// The queue file, or `None` for a queue in memory.
    pub queue: Option<PathBuf>,
    /// The root of the run directories.
    pub runs: PathBuf,
    /// How long a module may run on after SIGINT before SIGTERM.
    pub grace: Duration,
    /// How many experiments may run at once (≥ 1); `-j` wins.
    pub jobs: Option<usize>,
    /// GPU ids as `--gpus` takes them (`0,1`, `auto`, `none`); `--gpus` wins.
    pub gpus: Option<String>,
    /// The results store; see `store_path`.
    pub store: Option<PathBuf>,
    /// Slack notifications, when configured.
    pub slack: Option<SlackSettings>,
    /// The most experiments the file may expand to (sweeps, `Repeat` and
    /// `Global.repeat` included); default `MAX_EXPERIMENTS`.
    pub max_experiments: u64,
    /// Where jobs run (`local`, `slurm`); `run --executor` wins.
    pub executor: super::slurm::ExecutorKind,
    /// The resources of Slurm jobs (`Global.slurm`).
    pub slurm: super::slurm::SlurmSettings,
}

impl Default for Global {
    fn default() -> Self {
        Self {
            repeat: 1,
            queue: None,
            runs: PathBuf::from(DEFAULT_RUNS),
            grace: DEFAULT_GRACE,
            jobs: None,
            gpus: None,
            store: None,
            slack: None,
            max_experiments: MAX_EXPERIMENTS,
            executor: super::slurm::ExecutorKind::Local,
            slurm: super::slurm::SlurmSettings::default(),
        }
    }
}

/// A `Global` that cannot be used: bad input (exit status 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GlobalError {
    /// The file and line, when a source was given.
    pub location: Option<Location>,
    pub message: String,
}

impl fmt::Display for GlobalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(location) => write!(f, "{location}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for GlobalError {}

impl From<GlobalError> for ConfigError {
    fn from(err: GlobalError) -> Self {
        ConfigError::Invalid {
            location: err.location.unwrap_or_default(),
            message: err.message,
        }
    }
}

impl From<GlobalError> for Error {
    fn from(err: GlobalError) -> Self {
        match err.location {
            Some(_) => Error::Config(err.into()),
            None => Error::Usage(err.message),
        }
    }
}

impl Global {
    /// Read the `Global` mapping (after overrides). With `source`, errors
    /// name the file and the line of the key (document 0).
    pub(crate) fn from_mapping(
        global: &Mapping,
        source: Option<&SourceText>,
    ) -> Result<Self, GlobalError> {
        let fail = |key_path: &[&str], message: String| GlobalError {
            location: source.map(|s| {
                let mut path = vec![keys::GLOBAL];
                path.extend_from_slice(key_path);
                s.location(0, &path)
            }),
            message,
        };
        for key in global.keys() {
            let text = key_text(key);
            if !GLOBAL_KEYS.contains(&text.as_str()) {
                let message = unknown_key_message(keys::GLOBAL, &text, &GLOBAL_KEYS);
                return Err(fail(&[&text], message));
            }
        }
        let field = |key: &str| global.get(key);
        let defaults = Self::default();
        let slack = SlackSettings::from_value(field("slack")).map_err(|e| {
            let mut path = vec!["slack"];
            path.extend(e.key());
            fail(&path, e.to_string())
        })?;
        Ok(Self {
            repeat: repeat(field("repeat")).map_err(|m| fail(&["repeat"], m))?,
            queue: path("queue", field("queue")).map_err(|m| fail(&["queue"], m))?,
            runs: path("runs", field("runs"))
                .map_err(|m| fail(&["runs"], m))?
                .unwrap_or(defaults.runs),
            grace: grace(field("grace"))
                .map_err(|m| fail(&["grace"], m))?
                .unwrap_or(defaults.grace),
            jobs: jobs(field("jobs")).map_err(|m| fail(&["jobs"], m))?,
            gpus: gpus(field("gpus")).map_err(|m| fail(&["gpus"], m))?,
            store: path("store", field("store")).map_err(|m| fail(&["store"], m))?,
            slack,
            max_experiments: max_experiments(field("max_experiments"))
                .map_err(|m| fail(&["max_experiments"], m))?,
            executor: super::slurm::executor(field("executor"))
                .map_err(|m| fail(&["executor"], m))?,
            slurm: super::slurm::SlurmSettings::from_value(field("slurm"), "Global.slurm")
                .map_err(|m| fail(&["slurm"], m))?,
        })
    }

    /// `from_mapping` for a `Global` read from the experiment file `file`:
    /// the file is read again only to point an error at its line.
    pub(crate) fn from_mapping_in(global: &Mapping, file: &Path) -> Result<Self, GlobalError> {
        Self::from_mapping(global, None).map_err(|err| {
            let Ok(text) = std::fs::read_to_string(file) else {
                return GlobalError {
                    location: Some(Location {
                        path: file.to_owned(),
                        document: Some(0),
                        ..Location::default()
                    }),
                    ..err
                };
            };
            let source = SourceText::new(file.to_owned(), text);
            Self::from_mapping(global, Some(&source))
                .err()
                .unwrap_or(err)
        })
    }

    /// Where the results store is: `Global.store`, else the default path.
    pub(crate) fn store_path(&self) -> PathBuf {
        self.store
            .clone()
            .unwrap_or_else(|| PathBuf::from(crate::store::DEFAULT_PATH))
    }
}

/// `Global.repeat`: an integer from 1 to `MAX_REPEAT`, default 1.
fn repeat(value: Option<&Value>) -> Result<u64, String> {
    let found = match value {
        None => return Ok(1),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(n) if (1..=MAX_REPEAT).contains(&n) => return Ok(n),
            _ => format!("`{n}`"),
        },
        Some(Value::String(s)) => format!("the string `{s}`"),
        Some(other) => value_kind(other).to_owned(),
    };
    Err(format!(
        "`Global.repeat` must be an integer from 1 to {MAX_REPEAT} (the limit on repeats), \
         found {found}"
    ))
}

/// `Global.max_experiments`: an integer of at least 1.
fn max_experiments(value: Option<&Value>) -> Result<u64, String> {
    match value {
        None | Some(Value::Null) => Ok(MAX_EXPERIMENTS),
        Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n >= 1) => {
            Ok(n.as_u64().unwrap_or(MAX_EXPERIMENTS))
        }
        Some(other) => Err(format!(
            "`Global.max_experiments` must be an integer of at least 1 (default \
             {MAX_EXPERIMENTS}), found `{}`",
            key_text(other)
        )),
    }
}

/// A path, or null for "not set".
fn path(key: &str, value: Option<&Value>) -> Result<Option<PathBuf>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(PathBuf::from(s))),
        Some(_) => Err(format!("`Global.{key}` must be a path or null")),
    }
}

/// A duration ≥ 0: seconds or `30s`, `2m`, `0:30` (`model::duration`).
fn grace(value: Option<&Value>) -> Result<Option<Duration>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(value) => match super::duration::seconds(value) {
            Some(s) if (0.0..=super::duration::MAX_SECS).contains(&s) => {
                Ok(Some(super::duration::from_secs(s)))
            }
            _ => Err("`Global.grace` must be a number of seconds or a duration \
                      (`30s`, `2m`, `0:30`)"
                .to_owned()),
        },
    }
}

fn jobs(value: Option<&Value>) -> Result<Option<usize>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(j) if j >= 1 => Ok(Some(j as usize)),
            _ => Err("`Global.jobs` must be an integer of at least 1".to_owned()),
        },
        Some(_) => Err("`Global.jobs` must be an integer of at least 1".to_owned()),
    }
}

/// `[0, 1]`, `0,1`, `auto`, `none` or a single id, as `--gpus` text.
fn gpus(value: Option<&Value>) -> Result<Option<String>, String> {
    let bad = || "`Global.gpus` must be a list of GPU ids, `auto` or null".to_owned();
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Sequence(items)) => {
            let ids = items
                .iter()
                .map(|item| match item {
                    Value::Number(n) => Ok(n.to_string()),
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(bad()),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Some(format!("ids:{}", ids.join(","))))
        }
        Some(_) => Err(bad()),
    }
}

/// What a value is, for messages (`found a list`).
pub(crate) fn value_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(s) if s.trim().is_empty() => "an empty string",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// A mapping key as text (YAML keys need not be strings).
pub(crate) fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        other => yaml_serde::to_string(other)
            .map_or_else(|_| "?".to_owned(), |s| s.trim_end().to_owned()),
    }
}

impl SlackConfigError {
    /// The key under `Global.slack` that is wrong, if it is one key.
    fn key(&self) -> Option<&str> {
        match self {
            Self::NotAMapping { .. } | Self::MissingChannel => None,
            Self::BadChannel { .. } => Some("channel"),
            Self::BadEach { .. } => Some("each"),
            Self::UnknownKey { key, .. } => Some(key),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn parse(text: &str) -> Result<Global, GlobalError> {
        Global::from_mapping(&yaml_serde::from_str(text).unwrap(), None)
    }

    #[test]
    fn defaults_and_every_key() {
        assert_eq!(parse("{}").unwrap(), Global::default());
        let g = parse(
            "repeat: 3\nqueue: q.yaml\nruns: out\ngrace: 0.5\njobs: 2\ngpus: [0, 1]\n\
             store: s.sqlite\nslack: {channel: \"#x\", each: true}\nmax_experiments: 20\n",
        )
        .unwrap();
        assert_eq!(g.max_experiments, 20);
        assert_eq!(g.repeat, 3);
        assert_eq!(g.queue.as_deref(), Some(Path::new("q.yaml")));
        assert_eq!(g.runs, Path::new("out"));
        assert_eq!(g.grace, Duration::from_millis(500));
        assert_eq!(g.jobs, Some(2));
        assert_eq!(g.gpus.as_deref(), Some("ids:0,1"));
        assert_eq!(g.store_path(), Path::new("s.sqlite"));
        let slack = g.slack.unwrap();
        assert_eq!((slack.channel.as_str(), slack.each), ("#x", true));
        let g = parse("queue: null\nruns: null\ngrace: null\ngpus: auto\nslack: null\n").unwrap();
        assert_eq!(g.queue, None);
        assert_eq!(g.runs, Path::new(DEFAULT_RUNS));
        assert_eq!(g.gpus.as_deref(), Some("auto"));
        assert_eq!(g.store_path(), Path::new(crate::store::DEFAULT_PATH));
    }

    #[test]
    fn unknown_keys_are_errors_with_a_hint() {
        let err = parse("repaet: 3\nqueu: q.yaml\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown key `Global.repaet`; did you mean `repeat`?"
        );
        let err = parse("seed: 1\n").unwrap_err();
        assert!(err.message.contains("the known keys are `repeat`"), "{err}");
        let err = parse("slack: {chanel: \"#x\"}\n").unwrap_err();
        assert_eq!(
            err.message,
            "unknown key `Global.slack.chanel`; did you mean `channel`?"
        );
        assert_eq!(Error::from(err).exit_code(), crate::error::exit::BAD_INPUT);
    }

    #[test]
    fn bad_values_keep_their_messages() {
        for (text, message) in [
            (
                "repeat: 0",
                "`Global.repeat` must be an integer from 1 to 1000000 (the limit on repeats), found `0`",
            ),
            (
                "repeat: x",
                "`Global.repeat` must be an integer from 1 to 1000000 (the limit on repeats), found the string `x`",
            ),
            ("queue: ''", "`Global.queue` must be a path or null"),
            ("store: [a]", "`Global.store` must be a path or null"),
            ("grace: soon", "`Global.grace` must be a number of seconds"),
            ("grace: -1", "`Global.grace` must be a number of seconds"),
            ("jobs: 0", "`Global.jobs` must be an integer of at least 1"),
            (
                "max_experiments: 0",
                "`Global.max_experiments` must be an integer of at least 1",
            ),
            (
                "gpus: {a: 1}",
                "`Global.gpus` must be a list of GPU ids, `auto` or null",
            ),
            ("slack: {each: true}", "`Global.slack` has no `channel`"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.message.starts_with(message), "{text}: {err}");
            assert_eq!(err.location, None);
        }
    }

    #[test]
    fn a_source_gives_the_file_and_line() {
        let text = "Global:\n  repeat: 1\n  repaet: 3\nlr: 1\n---\na: 1\n";
        let source = SourceText::new("e.yaml".into(), text.to_owned());
        let global = yaml_serde::from_str::<Mapping>("repeat: 1\nrepaet: 3\n").unwrap();
        let err = Global::from_mapping(&global, Some(&source)).unwrap_err();
        let location = err.location.clone().unwrap();
        assert_eq!(
            (location.path.as_path(), location.line),
            (Path::new("e.yaml"), Some(3))
        );
        assert!(err.to_string().starts_with("e.yaml:3 "), "{err}");
        assert!(err.to_string().ends_with("did you mean `repeat`?"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("e.yaml");
        std::fs::write(&file, text).unwrap();
        let err = Global::from_mapping_in(&global, &file).unwrap_err();
        assert_eq!(err.location.unwrap().line, Some(3));
        let err = Global::from_mapping_in(&global, &dir.path().join("gone.yaml")).unwrap_err();
        assert_eq!(err.location.unwrap().line, None);
    }
}
