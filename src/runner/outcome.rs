//! From an executor's `ExitReport` to the `Record` that is logged: the
//! status (`done`, `failed`, `interrupted`, `timeout`) and the error text.

use std::path::PathBuf;

use chrono::Local;
use yaml_serde::Mapping;

use crate::executor::{Cause, Exit, ExitReport};
use crate::model::JobSpec;
use crate::yaml_log::{self, Record, Status};

/// The record of job `index` that ran `experiment` and ended as `report`.
pub(crate) fn record(
    index: usize,
    experiment: Mapping,
    spec: &JobSpec,
    report: &ExitReport,
    run_dir: PathBuf,
) -> Record {
    let (status, error) = status(spec, report);
    let (exit_code, signal) = match report.exit {
        Some(Exit::Code(code)) => (Some(code), None),
        Some(Exit::Signal(signal)) => (Some(128 + signal), Some(signal)),
        None => (None, None),
    };
    Record {
        index,
        name: spec.name.clone(),
        experiment,
        results: report.results.clone().unwrap_or_default(),
        status,
        exit_code,
        signal,
        started_at: report.started_at,
        finished_at: Local::now(),
        elapsed: report.elapsed,
        run_dir: Some(run_dir),
        error,
        stderr_tail: report.stderr_tail.clone(),
        log: spec.log.clone(),
        scheduler: report.scheduler.clone(),
    }
}

/// The status and, when the exit code does not say it all, why.
fn status(spec: &JobSpec, report: &ExitReport) -> (Status, Option<String>) {
    let results_error = report.results.as_ref().err().cloned();
    let failed = |why: &str| (Status::Failed, Some(why.to_owned()));
    match report.cause {
        Cause::Stopped => (Status::Interrupted, results_error),
        Cause::Timeout => (
            Status::Timeout,
            Some(match spec.timeout {
                Some(t) => format!("ran longer than its `Timeout` of {} s", t.as_secs_f64()),
                // A cluster's own limit (Slurm's `--time`).
                None => "reached the scheduler's time limit".to_owned(),
            }),
        ),
        Cause::Cancelled => failed("cancelled by the scheduler"),
        Cause::Preempted => failed("preempted by the scheduler"),
        Cause::NodeFailure => failed("the node it ran on failed"),
        Cause::OutOfMemory => failed("killed for running out of memory"),
        Cause::Ended if report.succeeded() => (Status::Done, None),
        Cause::Ended => match report.exit {
            Some(Exit::Signal(s)) => (
                Status::Failed,
                Some(format!("killed by {}", yaml_log::signal_name(s))),
            ),
            _ => (Status::Failed, results_error),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn report(cause: Cause, exit: Exit, results: Result<Mapping, String>) -> ExitReport {
        ExitReport {
            cause,
            exit: Some(exit),
            started_at: Local::now(),
            elapsed: Duration::from_millis(5),
            results,
            stderr_tail: None,
            scheduler: Mapping::new(),
        }
    }

    #[test]
    fn statuses() {
        let spec = JobSpec::from_experiment(
            &yaml_serde::from_str("Name: a\nModule: m\nTimeout: 2").unwrap(),
        )
        .unwrap();
        let cases = [
            (
                Cause::Ended,
                Exit::Code(0),
                Ok(Mapping::new()),
                "done",
                None,
            ),
            (
                Cause::Ended,
                Exit::Code(3),
                Ok(Mapping::new()),
                "failed",
                None,
            ),
            (
                Cause::Ended,
                Exit::Code(0),
                Err("invalid results".to_owned()),
                "failed",
                Some("invalid results"),
            ),
            (
                Cause::Ended,
                Exit::Signal(9),
                Ok(Mapping::new()),
                "failed",
                Some("killed by SIGKILL"),
            ),
            (
                Cause::Stopped,
                Exit::Code(0),
                Ok(Mapping::new()),
                "interrupted",
                None,
            ),
            (
                Cause::Timeout,
                Exit::Signal(15),
                Ok(Mapping::new()),
                "timeout",
                Some("ran longer than its `Timeout` of 2 s"),
            ),
            (
                Cause::OutOfMemory,
                Exit::Signal(9),
                Ok(Mapping::new()),
                "failed",
                Some("killed for running out of memory"),
            ),
        ];
        for (cause, exit, results, want, error) in cases {
            let record = record(
                0,
                Mapping::new(),
                &spec,
                &report(cause, exit, results),
                "d".into(),
            );
            assert_eq!(record.status.as_str(), want, "{cause:?} {exit:?}");
            assert_eq!(record.error.as_deref(), error, "{cause:?} {exit:?}");
        }
        let killed = record(
            1,
            Mapping::new(),
            &spec,
            &report(Cause::Ended, Exit::Signal(9), Ok(Mapping::new())),
            "d".into(),
        );
        assert_eq!((killed.exit_code, killed.signal), (Some(137), Some(9)));
    }
}
