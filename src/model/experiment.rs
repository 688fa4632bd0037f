//! The typed view of an experiment's runner keys (`Name`, `Module`,
//! `Timeout`, `YamlLog`): read once when the experiment is admitted.

use std::path::PathBuf;
use std::time::Duration;

use yaml_serde::{Mapping, Value};

use super::keys;

/// The runner's reading of an experiment's `Capitalised` keys.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JobSpec {
    pub name: String,
    pub command: Vec<String>,
    pub timeout: Option<Duration>,
    pub log: Option<PathBuf>,
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
                skip: true,
            });
        }
        let command = match experiment.get(keys::MODULE) {
            None | Some(Value::Null) => {
                return Err(
                    "no `Module` to run; hint: set `Module: python3 modules/train.py` \
                            in the default config or the experiment"
                        .to_owned(),
                )
            }
            Some(Value::String(module)) => shell_words::split(module)
                .map_err(|e| format!("cannot split `Module: {module}`: {e}"))?,
            Some(_) => {
                return Err("`Module` must be a string (a program and its arguments)".to_owned())
            }
        };
        if command.is_empty() {
            return Err("`Module` is empty".to_owned());
        }
        let timeout = match experiment.get(keys::TIMEOUT) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => match n.as_f64() {
                Some(secs) if secs > 0.0 && secs.is_finite() => Some(Duration::from_secs_f64(secs)),
                _ => {
                    return Err(format!(
                        "`Timeout` must be a positive number of seconds, found `{n}`"
                    ))
                }
            },
            Some(_) => {
                return Err("`Timeout` must be a positive number of seconds".to_owned());
            }
        };
        let log = match experiment.get(keys::YAML_LOG) {
            None | Some(Value::Null) => None,
            Some(Value::String(path)) if !path.is_empty() => Some(PathBuf::from(path)),
            Some(_) => return Err("`YamlLog` must be a path".to_owned()),
        };
        Ok(Self {
            name,
            command,
            timeout,
            log,
            skip: false,
        })
    }
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
        for (text, message) in [
            ("Name: a", "no `Module`"),
            ("Module: 3", "must be a string"),
            ("Module: \"a 'b\"", "cannot split"),
            ("Module: x\nTimeout: -1", "positive number"),
            ("Module: x\nTimeout: soon", "positive number"),
            ("Module: x\nYamlLog: [1]", "must be a path"),
        ] {
            let err = JobSpec::from_experiment(&mapping(text)).unwrap_err();
            assert!(err.contains(message), "{text}: {err}");
        }
    }
}
