//! From an expanded experiment to a `Job`: the runner's keys (`Module`,
//! `Timeout`, `YamlLog`, `Name`), the run directory and the results file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use yaml_serde::{Mapping, Value};

use crate::yaml::read::parse_documents;

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
    match experiment.get("Name") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "experiment".to_owned(),
    }
}

impl JobSpec {
    /// Read and check the runner's keys; the error is a lowercase fragment.
    pub(crate) fn from_experiment(experiment: &Mapping) -> Result<Self, String> {
        let name = name_of(experiment);
        if experiment.get("Name").and_then(Value::as_str) == Some("skip") {
            return Ok(Self {
                name,
                command: Vec::new(),
                timeout: None,
                log: None,
                skip: true,
            });
        }
        let command = match experiment.get("Module") {
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
        let timeout = match experiment.get("Timeout") {
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
        let log = match experiment.get("YamlLog") {
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

/// `<runs>/<stamp>-<index>-<name>`, made unique if it exists already
/// (two runners started in the same second).
pub(crate) fn create_run_dir(
    runs: &Path,
    stamp: &str,
    index: usize,
    name: &str,
) -> std::io::Result<PathBuf> {
    let base = format!("{stamp}-{index:03}-{}", sanitize(name));
    let mut attempt = 1;
    loop {
        let dir = if attempt <= 1 {
            runs.join(&base)
        } else {
            runs.join(format!("{base}.{attempt}"))
        };
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            // The first experiment of a run: create `runs/` (once, not each time).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempt == 1 => {
                std::fs::create_dir_all(runs)?;
                attempt = 0;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 1000 => {
                attempt = attempt.max(1) + 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// A name safe for a directory: `[A-Za-z0-9._-]`, at most 60 characters.
fn sanitize(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    if clean.is_empty() || clean.chars().all(|c| c == '.') {
        "experiment".to_owned()
    } else {
        clean
    }
}

/// Read what the module wrote to `COOL_RUNNER_RESULTS`: nothing (no file or
/// an empty one) or one YAML/JSON mapping. The error is a lowercase fragment.
pub(crate) fn read_results(path: &Path) -> Result<Mapping, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Mapping::new()),
        Err(e) => {
            return Err(format!(
                "failed to read the results `{}`: {e}",
                path.display()
            ))
        }
    };
    let docs = parse_documents(&text, path)
        .map_err(|e| format!("invalid results written by the module: {e}"))?;
    let mut docs = docs.into_iter().filter(|d| !d.is_null());
    match (docs.next(), docs.next()) {
        (None, _) => Ok(Mapping::new()),
        (Some(Value::Mapping(map)), None) => Ok(map),
        (Some(_), None) => Err(format!(
            "invalid results written by the module in `{}`: expected a mapping of keys to values",
            path.display()
        )),
        (Some(_), Some(_)) => Err(format!(
            "invalid results written by the module in `{}`: expected one document, found several",
            path.display()
        )),
    }
}

/// The last `lines` lines of a file, at most 2 KiB, or `None` if empty.
pub(crate) fn tail(path: &Path, lines: usize) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let start = len.saturating_sub(2048);
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let text = text.trim_end();
    let mut all: Vec<&str> = text.lines().collect();
    if start > 0 && all.len() > 1 {
        all.remove(0); // probably cut in the middle
    }
    let keep = &all[all.len().saturating_sub(lines)..];
    let out = keep.join("\n");
    (!out.trim().is_empty()).then_some(out)
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

    #[test]
    fn run_dirs_are_unique_and_safe() {
        let dir = tempfile::tempdir().unwrap();
        let a = create_run_dir(dir.path(), "s", 1, "a/b c").unwrap();
        let b = create_run_dir(dir.path(), "s", 1, "a/b c").unwrap();
        assert_eq!(a.file_name().unwrap(), "s-001-a_b_c");
        assert_eq!(b.file_name().unwrap(), "s-001-a_b_c.2");
        assert!(create_run_dir(dir.path(), "s", 2, "..")
            .unwrap()
            .ends_with("s-002-experiment"));
    }

    #[test]
    fn results() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.yaml");
        assert!(read_results(&path).unwrap().is_empty());
        std::fs::write(&path, "{\"ACC\": 0.5}").unwrap();
        assert_eq!(read_results(&path).unwrap()["ACC"], Value::from(0.5));
        std::fs::write(&path, "ACC: [1, 2\n").unwrap();
        assert!(read_results(&path).unwrap_err().contains("invalid results"));
        std::fs::write(&path, "- 1\n").unwrap();
        assert!(read_results(&path)
            .unwrap_err()
            .contains("expected a mapping"));
        std::fs::write(&path, "a\nb\nc\n").unwrap();
        assert_eq!(tail(&path, 2).unwrap(), "b\nc");
    }
}
