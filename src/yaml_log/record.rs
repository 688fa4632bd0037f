//! `Record`: a finished experiment, the way it is logged and announced.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Local, SecondsFormat};
use yaml_serde::{Mapping, Value};

use crate::model::keys;

/// How an experiment ended (`STATUS` in the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Status {
    /// The module exited with status 0 and its results (if any) were valid.
    Done,
    /// Non-zero exit, killed by a signal it was not sent by us, could not be
    /// started, or wrote invalid results.
    Failed,
    /// Stopped by the user (Ctrl-C, SIGTERM to the runner).
    Interrupted,
    /// Ran longer than its `Timeout`.
    Timeout,
    /// Not run: an experiment it waited for did not end `done` (pipelines).
    Skipped,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
            Self::Timeout => "timeout",
            Self::Skipped => "skipped",
        }
    }

    /// Whether this outcome makes the run's exit status 1.
    pub(crate) fn is_failure(self) -> bool {
        matches!(self, Self::Failed | Self::Timeout)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A finished experiment: what the runner logs and tells observers.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    /// Sequence number in this run (0 for the first experiment started).
    pub index: usize,
    /// The experiment's `Name` (or `experiment` when it has none).
    pub name: String,
    /// The expanded experiment, as the module received it.
    pub experiment: Mapping,
    /// What the module wrote to `COOL_RUNNER_RESULTS`.
    pub results: Mapping,
    pub status: Status,
    /// The exit code; 128 + n when killed by signal n (as shells report it),
    /// 127/126 when the module could not be found / executed.
    pub exit_code: Option<i32>,
    /// The signal that killed the module, if one did.
    pub signal: Option<i32>,
    pub started_at: DateTime<Local>,
    pub finished_at: DateTime<Local>,
    pub elapsed: Duration,
    pub run_dir: Option<PathBuf>,
    /// Why the runner considers it failed, when that is not just the exit
    /// code (module not found, invalid results...).
    pub error: Option<String>,
    /// The last lines of the module's stderr, for failed experiments.
    pub stderr_tail: Option<String>,
    /// Where it is logged (`YamlLog`), if anywhere.
    pub log: Option<PathBuf>,
    /// The keys of the place it ran (`SLURM_JOB_ID`, `SLURM_STATE`,
    /// `SLURM_NODE`), written after the runner's own.
    pub scheduler: Mapping,
}

impl Record {
    /// The log document: the experiment, then the results, then the
    /// runner's keys (which win over results of the same name).
    pub(crate) fn document(&self) -> Mapping {
        let mut doc = self.experiment.clone();
        for (key, value) in &self.results {
            doc.insert(key.clone(), value.clone());
        }
        let mut set = |key: &str, value: Value| {
            doc.insert(Value::String(key.to_owned()), value);
        };
        set(
            keys::TIME_ELAPSED,
            Value::from((self.elapsed.as_secs_f64() * 1000.0).round() / 1000.0),
        );
        set(keys::STATUS, Value::from(self.status.as_str()));
        set(
            keys::EXIT_CODE,
            self.exit_code
                .map_or(Value::Null, |c| Value::from(i64::from(c))),
        );
        set(keys::STARTED_AT, Value::from(rfc3339(&self.started_at)));
        set(keys::FINISHED_AT, Value::from(rfc3339(&self.finished_at)));
        if let Some(dir) = &self.run_dir {
            set(keys::RUN_DIR, Value::from(dir.display().to_string()));
        }
        if let Some(signal) = self.signal {
            set(keys::SIGNAL, Value::from(signal_name(signal)));
        }
        if let Some(error) = &self.error {
            set(keys::ERROR, Value::from(error.as_str()));
        }
        if let Some(tail) = &self.stderr_tail {
            set(keys::STDERR_TAIL, Value::from(tail.as_str()));
        }
        for (key, value) in &self.scheduler {
            doc.insert(key.clone(), value.clone());
        }
        doc
    }
}

/// RFC 3339 with milliseconds and the local offset.
pub(crate) fn rfc3339(time: &DateTime<Local>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, false)
}

/// `SIGKILL` for 9, `signal 42` for unknown numbers.
pub(crate) fn signal_name(signal: i32) -> String {
    nix::sys::signal::Signal::try_from(signal)
        .map_or_else(|_| format!("signal {signal}"), |s| s.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runner_keys_come_last_and_win() {
        let mut experiment = Mapping::new();
        experiment.insert("Name".into(), "a".into());
        let mut results = Mapping::new();
        results.insert("ACC".into(), Value::from(0.5));
        results.insert("STATUS".into(), "cheating".into());
        let now = Local::now();
        let record = Record {
            index: 0,
            name: "a".into(),
            experiment,
            results,
            status: Status::Failed,
            exit_code: Some(137),
            signal: Some(9),
            started_at: now,
            finished_at: now,
            elapsed: Duration::from_millis(1234),
            run_dir: None,
            error: None,
            stderr_tail: None,
            scheduler: Mapping::new(),
            log: None,
        };
        let doc = record.document();
        let keys: Vec<&str> = doc.keys().filter_map(Value::as_str).collect();
        assert_eq!(
            keys,
            [
                "Name",
                "ACC",
                "STATUS",
                "TIME_ELAPSED",
                keys::EXIT_CODE,
                "STARTED_AT",
                "FINISHED_AT",
                "SIGNAL"
            ]
        );
        assert_eq!(doc["STATUS"], Value::from("failed"));
        assert_eq!(doc["TIME_ELAPSED"], Value::from(1.234));
        assert_eq!(doc["SIGNAL"], Value::from("SIGKILL"));
    }
}
