//! The files a Slurm job shares with its submitter, in its run directory:
//! `job.json` (what to run, written at submission) and `done.json` (how it
//! ended, written atomically by `cool-runner exec` inside the allocation).
//! Only these two cross the cluster's shared file system; the log, the
//! store and Slack stay with the submitting process.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What `cool-runner exec` runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct JobFile {
    pub index: usize,
    pub name: String,
    /// The module's command line (its files taken from the code snapshot),
    /// module arguments included.
    pub command: Vec<String>,
    /// `Timeout` in seconds.
    pub timeout: Option<f64>,
    /// Seconds between SIGINT, SIGTERM and SIGKILL.
    pub grace: f64,
    /// The submitter's working directory: the module runs there.
    pub cwd: PathBuf,
    /// How many times a job warned of its time limit may be requeued.
    pub requeue: u64,
}

/// How the job ended, seen from inside the allocation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct DoneFile {
    /// The module's exit code, when it exited.
    pub exit_code: Option<i32>,
    /// The signal that killed it, when one did.
    pub signal: Option<i32>,
    /// `ended`, `timeout` (its `Timeout`), `time-limit` (Slurm's warning
    /// signal came first), `stopped` (a signal from outside: `scancel`).
    pub cause: String,
    /// The signal the job received from outside, if any (`INT`, `TERM`).
    pub received: Option<String>,
    /// RFC 3339.
    pub started_at: String,
    pub elapsed: f64,
    /// The node it ran on.
    pub node: String,
    /// `123_4` (array 123, task 4) or `123`.
    pub job_id: String,
    /// `SLURM_RESTART_COUNT`.
    pub restarts: u64,
}

pub(crate) const JOB_FILE: &str = "job.json";
pub(crate) const DONE_FILE: &str = "done.json";
/// Written once by the process that logged the job: nobody logs it twice.
pub(crate) const LOGGED_FILE: &str = "logged";
/// Written by `cool-runner exec` just before it requeues its job (removed
/// when the job starts again): the job is between two runs, not lost.
pub(crate) const REQUEUED_FILE: &str = "requeued";
/// The Slurm job id of the run directory's job, written after `sbatch`.
pub(crate) const ID_FILE: &str = "slurm-job";

/// Write `value` as JSON to `path` atomically (a temporary file renamed).
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let text = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    write_atomic(path, &text)
}

/// Write `bytes` to `path` through a temporary file in the same directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Read JSON from `path`: `None` when it does not exist (yet).
pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("invalid `{}`: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("failed to read `{}`: {e}", path.display())),
    }
}

/// Claim the right to log the job of `run_dir`: true for exactly one
/// caller (an attached run, `attach`, or a rerun that adopted the job).
pub(crate) fn claim(run_dir: &Path) -> bool {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(run_dir.join(LOGGED_FILE))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_files_round_trip_and_claims_are_single() {
        let dir = tempfile::tempdir().unwrap();
        let done = DoneFile {
            exit_code: Some(3),
            signal: None,
            cause: "ended".into(),
            received: None,
            started_at: "2026-01-01T00:00:00.000+00:00".into(),
            elapsed: 1.5,
            node: "n1".into(),
            job_id: "12_3".into(),
            restarts: 0,
        };
        let path = dir.path().join(DONE_FILE);
        assert_eq!(read_json::<DoneFile>(&path).unwrap(), None);
        write_json(&path, &done).unwrap();
        assert_eq!(read_json::<DoneFile>(&path).unwrap(), Some(done));
        std::fs::write(&path, "{").unwrap();
        assert!(read_json::<DoneFile>(&path)
            .unwrap_err()
            .contains("invalid"));
        assert!(claim(dir.path()));
        assert!(!claim(dir.path()));
    }
}
