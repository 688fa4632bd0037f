//! A job's place: its run directory `<runs>/<stamp>-<index>-<name>`, the
//! experiment it reads (`experiment.json`), the results it writes
//! (`results.yaml`) and the tail of its output. Shared by the executors: a
//! cluster executor puts its own files (a batch script) next to these.

use std::path::{Path, PathBuf};

use yaml_serde::{Mapping, Value};

use std::time::Duration;

use chrono::{DateTime, Local};

use super::{Cause, Exit, ExitReport, StartError};
use crate::yaml::read::parse_documents;

/// The file that marks a run directory, so that `collect` can skip the
/// `results.yaml` of every run (the log already holds them).
pub(crate) const RUN_DIR_MARKER: &str = ".cool-runner-run";

const RUN_DIR_MARKER_TEXT: &str = "A run directory of cool-runner: `cool-runner collect` \
    skips it (its results are in the log), `collect --all` reads it.\n";

/// Lines of stderr kept in the log of a failed experiment.
const STDERR_TAIL_LINES: usize = 20;

/// Where workspaces are created.
#[derive(Debug, Clone)]
pub(crate) struct WorkspaceConfig {
    pub runs_dir: PathBuf,
    /// The first part of run directory names (the session's start time).
    pub stamp: String,
}

/// One job's run directory and files.
#[derive(Debug, Clone)]
pub(crate) struct Workspace {
    pub dir: PathBuf,
    /// `COOL_RUNNER_EXPERIMENT`
    pub experiment_file: PathBuf,
    /// `COOL_RUNNER_RESULTS`
    pub results_file: PathBuf,
}

impl Workspace {
    /// Create the run directory of job `index` and write its experiment.
    pub(crate) fn create(
        config: &WorkspaceConfig,
        index: usize,
        name: &str,
        experiment: &Mapping,
    ) -> Result<Self, StartError> {
        let dir = create_run_dir(&config.runs_dir, &config.stamp, index, name).map_err(|err| {
            StartError {
                message: format!(
                    "failed to create a run directory in `{}`: {err}",
                    config.runs_dir.display()
                ),
                exit_code: 126,
                run_dir: None,
            }
        })?;
        let workspace = Self {
            experiment_file: dir.join("experiment.json"),
            results_file: dir.join("results.yaml"),
            dir,
        };
        let written = serde_json::to_vec_pretty(experiment)
            .map_err(|e| e.to_string())
            .and_then(|json| {
                std::fs::write(&workspace.experiment_file, json).map_err(|e| e.to_string())
            });
        if let Err(err) = written {
            return Err(StartError {
                message: format!(
                    "failed to write `{}`: {err}",
                    workspace.experiment_file.display()
                ),
                exit_code: 126,
                run_dir: Some(workspace.dir),
            });
        }
        // Best effort: an unmarked run directory is still recognised by
        // its name and `experiment.json` (as those of older versions are).
        let _ = std::fs::write(workspace.dir.join(RUN_DIR_MARKER), RUN_DIR_MARKER_TEXT);
        Ok(workspace)
    }

    /// The workspace in the run directory `dir`, made earlier (a Slurm job
    /// runs in the directory its submitter created).
    pub(crate) fn open(dir: &Path) -> Self {
        Self {
            experiment_file: dir.join("experiment.json"),
            results_file: dir.join("results.yaml"),
            dir: dir.to_owned(),
        }
    }

    /// The environment that tells the module where its files are.
    pub(crate) fn env(&self) -> [(&'static str, PathBuf); 3] {
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
        [
            ("COOL_RUNNER_EXPERIMENT", absolute(&self.experiment_file)),
            ("COOL_RUNNER_RESULTS", absolute(&self.results_file)),
            ("COOL_RUNNER_RUN_DIR", absolute(&self.dir)),
        ]
    }

    /// How a job that ran here ended: its cause and exit, with what it
    /// left (its results, and the end of its stderr unless it ended
    /// cleanly).
    pub(crate) fn report(
        &self,
        cause: Cause,
        exit: Exit,
        started_at: DateTime<Local>,
        elapsed: Duration,
    ) -> ExitReport {
        let results = read_results(&self.results_file);
        let cleanly = cause == Cause::Ended && exit == Exit::Code(0) && results.is_ok();
        let stderr_tail = (!cleanly)
            .then(|| tail(&self.dir.join("stderr.log"), STDERR_TAIL_LINES))
            .flatten();
        ExitReport {
            cause,
            exit: Some(exit),
            started_at,
            elapsed,
            results,
            stderr_tail,
            scheduler: Mapping::new(),
        }
    }
}

/// Whether `dir` is a run directory: it holds the marker, or (made by a
/// version before the marker) its name is `<stamp>-<index>-<name>` and it
/// holds `experiment.json`.
pub(crate) fn is_run_dir(dir: &Path) -> bool {
    if dir.join(RUN_DIR_MARKER).exists() {
        return true;
    }
    let Some(name) = dir.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    // `2026-11-22_01-35-43-001-`: digits where the stamp and index have them.
    let digits_at = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22];
    let bytes = name.as_bytes();
    bytes.len() > 24
        && digits_at.iter().all(|&i| bytes[i].is_ascii_digit())
        && [
            (4, b'-'),
            (7, b'-'),
            (10, b'_'),
            (13, b'-'),
            (16, b'-'),
            (19, b'-'),
        ]
        .iter()
        .all(|&(i, c)| bytes[i] == c)
        && dir.join("experiment.json").is_file()
}

/// `<runs>/<stamp>-<index>-<name>`, made unique if it exists already
/// (two runners started in the same second).
fn create_run_dir(runs: &Path, stamp: &str, index: usize, name: &str) -> std::io::Result<PathBuf> {
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
fn tail(path: &Path, lines: usize) -> Option<String> {
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
    fn run_dirs_are_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let config = WorkspaceConfig {
            runs_dir: dir.path().join("runs"),
            stamp: "2026-11-22_01-35-43".to_owned(),
        };
        let made = Workspace::create(&config, 1, "a", &Mapping::new()).unwrap();
        assert!(is_run_dir(&made.dir));
        std::fs::remove_file(made.dir.join(RUN_DIR_MARKER)).unwrap();
        assert!(is_run_dir(&made.dir), "an older version's run directory");
        std::fs::remove_file(&made.experiment_file).unwrap();
        assert!(!is_run_dir(&made.dir));
        assert!(!is_run_dir(dir.path()));
        let other = dir.path().join("2026-results-of-mine");
        std::fs::create_dir(&other).unwrap();
        std::fs::write(other.join("experiment.json"), "{}").unwrap();
        assert!(!is_run_dir(&other));
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
