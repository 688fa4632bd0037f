//! The typed view of an experiment's runner keys (`Name`, `Module`,
//! `Timeout`, `YamlLog`, `GPUs`, `Fingerprint`): read and checked once, when
//! the experiment is admitted (and by `run` before anything starts).

use std::path::PathBuf;
use std::time::Duration;

use yaml_serde::{Mapping, Value};

use super::{duration, keys};

/// The runner's reading of an experiment's `Capitalised` keys.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JobSpec {
    pub name: String,
    pub command: Vec<String>,
    pub timeout: Option<Duration>,
    pub log: Option<PathBuf>,
    /// `GPUs`, when the experiment says (else the run's default).
    pub gpus: Option<usize>,
    /// `Fingerprint`: globs of files that are part of its identity.
    pub fingerprint: Vec<String>,
    /// `Name: skip`: expanded, never run.
    pub skip: bool,
}

/// The experiment's `Name`, or `experiment`.
pub(crate) fn name_of(experiment: &Mapping) -> String {
    match experiment.get(keys::NAME) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "experiment".to_owned(),
    }
}

/// How the terminal names a started experiment: `#3 lr0.1` (the index
/// counts the experiments started by this run, as the run directory's
/// does, so repeats with one `Name` differ), `#3` without a `Name`.
pub(crate) fn label(index: usize, experiment: &Mapping) -> String {
    match experiment.get(keys::NAME) {
        Some(Value::String(_) | Value::Number(_)) => format!("#{index} {}", name_of(experiment)),
        _ => format!("#{index}"),
    }
}

impl JobSpec {
    /// Read and check the runner's keys; the error is a lowercase fragment.
    pub(crate) fn from_experiment(experiment: &Mapping) -> Result<Self, String> {
        let name = name_of(experiment);
        if experiment.get(keys::NAME).and_then(Value::as_str) == Some("skip") {
            return Ok(Self {
                name,
                command: Vec::new(),
                timeout: None,
                log: None,
                gpus: None,
                fingerprint: Vec::new(),
                skip: true,
            });
        }
        Ok(Self {
            name,
            command: module(experiment.get(keys::MODULE))?,
            timeout: timeout(experiment.get(keys::TIMEOUT))?,
            log: log(experiment.get(keys::YAML_LOG))?,
            gpus: gpus(experiment.get(keys::GPUS))?,
            fingerprint: fingerprint(experiment.get(keys::FINGERPRINT))?,
            skip: false,
        })
    }
}

/// `Module`, split as a shell would.
fn module(value: Option<&Value>) -> Result<Vec<String>, String> {
    let command = match value {
        None | Some(Value::Null) => {
            return Err(
                "no `Module` to run; hint: set `Module: python3 modules/train.py` \
                        in the default config or the experiment"
                    .to_owned(),
            )
        }
        Some(Value::String(module)) => shell_words::split(module)
            .map_err(|e| format!("cannot split `Module: {module}`: {e}"))?,
        Some(_) => return Err("`Module` must be a string (a program and its arguments)".to_owned()),
    };
    if command.is_empty() {
        return Err("`Module` is empty".to_owned());
    }
    Ok(command)
}

/// `Timeout`: a positive duration (`90`, `90s`, `2h`, `1:30:00`), at most
/// `duration::MAX_SECS`.
fn timeout(value: Option<&Value>) -> Result<Option<Duration>, String> {
    let shown = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => yaml_serde::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_owned(),
    };
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(value) => match duration::seconds(value) {
            Some(secs) if secs > 0.0 && secs <= duration::MAX_SECS => {
                Ok(Some(duration::from_secs(secs)))
            }
            Some(secs) if secs > duration::MAX_SECS => Err(format!(
                "`Timeout` of `{}` is over the limit of {:e} s",
                shown(value),
                duration::MAX_SECS
            )),
            _ => Err(format!(
                "`Timeout` must be a positive number of seconds or a duration \
                 (`90s`, `2h`, `1h30m`, `1:30:00`), found `{}`",
                shown(value)
            )),
        },
    }
}

/// `YamlLog`: a path.
fn log(value: Option<&Value>) -> Result<Option<PathBuf>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(path)) if !path.is_empty() => Ok(Some(PathBuf::from(path))),
        Some(_) => Err("`YamlLog` must be a path".to_owned()),
    }
}

/// `GPUs`: a non-negative integer.
pub(crate) fn gpus(value: Option<&Value>) -> Result<Option<usize>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| "`GPUs` must be a non-negative integer".to_owned()),
        Some(_) => Err("`GPUs` must be a non-negative integer".to_owned()),
    }
}

/// `Fingerprint`: absent, a glob, or a list of globs (each one valid).
fn fingerprint(value: Option<&Value>) -> Result<Vec<String>, String> {
    let not_globs = || "`Fingerprint` must be a glob or a list of globs".to_owned();
    let patterns: Vec<String> = match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Sequence(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned).ok_or_else(not_globs))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(not_globs()),
    };
    for pattern in &patterns {
        glob::Pattern::new(pattern)
            .map_err(|e| format!("invalid `Fingerprint` glob `{pattern}`: {e}"))?;
    }
    Ok(patterns)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(text: &str) -> Mapping {
        yaml_serde::from_str(text).unwrap()
    }

    #[test]
    fn specs() {
        let spec = JobSpec::from_experiment(&mapping(
            "Name: a\nModule: python3 'my dir/t.py' --x\nTimeout: 1.5\nYamlLog: l.yaml",
        ))
        .unwrap();
        assert_eq!(spec.command, ["python3", "my dir/t.py", "--x"]);
        assert_eq!(spec.timeout, Some(Duration::from_millis(1500)));
        assert_eq!(spec.log, Some(PathBuf::from("l.yaml")));
        assert!(!spec.skip);
        let spec = JobSpec::from_experiment(&mapping("Module: x\nTimeout: 1h30m")).unwrap();
        assert_eq!(spec.timeout, Some(Duration::from_secs(5400)));
        for (text, message) in [
            ("Name: a", "no `Module`"),
            ("Module: 3", "must be a string"),
            ("Module: \"a 'b\"", "cannot split"),
            ("Module: x\nTimeout: -1", "positive number"),
            ("Module: x\nTimeout: soon", "positive number"),
            ("Module: x\nYamlLog: [1]", "must be a path"),
            ("Module: x\nTimeout: 1e20", "over the limit of 1e9 s"),
            ("Module: x\nTimeout: 0s", "found `0s`"),
            ("Module: x\nGPUs: two", "non-negative integer"),
            ("Module: x\nFingerprint: 3", "a glob or a list of globs"),
            (
                "Module: x\nFingerprint: ['a[']",
                "invalid `Fingerprint` glob",
            ),
        ] {
            let err = JobSpec::from_experiment(&mapping(text)).unwrap_err();
            assert!(err.contains(message), "{text}: {err}");
        }
    }
}
