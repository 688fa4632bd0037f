//! Retries of flaky failures: an experiment with `Retries: N` (or every
//! experiment, with `run --retries N`, an override of the default config)
//! that fails or times out is started again, up to N more times, each
//! attempt a new job (the next index) in a run directory of its own. The
//! attempt number is the experiment's `ATTEMPTS` key from the second
//! attempt on, so the module can read it and the log's one document (of
//! the last attempt) says how many it took. Earlier attempts are closed in
//! the results store as the failures they were, and neither logged nor
//! counted; an experiment stopped by the person (or a stopping run) is not
//! retried.
//!
//! A child module of `session.rs` (which keeps its diff to a few lines):
//! `ended` asks `next_attempt` before the record takes the experiment, then
//! `retry` with the record.

use yaml_serde::{Mapping, Value};

use super::Session;
use crate::executor::Capacity;
use crate::model::JobSpec;
use crate::queue::Ticket;
use crate::runner::admission::Ready;
use crate::yaml_log::{Record, Status};

/// The experiment key: how many times a failed attempt is started again.
pub(crate) const RETRIES: &str = "Retries";
/// Added to the experiment from its second attempt on: which one it is.
pub(crate) const ATTEMPTS: &str = "ATTEMPTS";

/// `Retries` of an experiment: a non-negative integer, 0 when absent or
/// not one (a wrong value is reported when the job starts, see `check`).
fn retries(experiment: &Mapping) -> u64 {
    experiment.get(RETRIES).and_then(Value::as_u64).unwrap_or(0)
}

/// Which attempt `experiment` is (1 for the first).
pub(crate) fn attempt(experiment: &Mapping) -> u64 {
    experiment
        .get(ATTEMPTS)
        .and_then(Value::as_u64)
        .unwrap_or(1)
}

/// What is wrong with an experiment's `Retries`, if anything.
pub(crate) fn check(experiment: &Mapping) -> Option<String> {
    match experiment.get(RETRIES) {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_u64().is_some() => None,
        Some(other) => Some(format!(
            "`{RETRIES}` must be a non-negative integer, found {}",
            crate::filter::format::inline(other)
        )),
    }
}

/// The experiment of the next attempt, if one remains (whatever this one's
/// outcome: it is asked before the record takes the experiment).
pub(crate) fn next_attempt(experiment: &Mapping) -> Option<Mapping> {
    let attempt = attempt(experiment);
    if attempt > retries(experiment) {
        return None;
    }
    let mut next = experiment.clone();
    if let Some(slot) = next.get_mut(ATTEMPTS) {
        *slot = Value::from(attempt + 1);
    } else {
        next.insert(Value::from(ATTEMPTS), Value::from(attempt + 1));
    }
    Some(next)
}

/// Whether an attempt that ended so is worth another: a failure or a
/// timeout, not an experiment stopped by the person.
fn flaky(status: Status) -> bool {
    matches!(status, Status::Failed | Status::Timeout)
}

impl Session<'_, '_> {
    /// Start `next` (from `next_attempt`) if `record`, the attempt that
    /// ended, failed and the run goes on; returns whether it did, and then
    /// `record` is done with (its store row closed, nothing logged).
    pub(super) fn retry(
        &mut self,
        next: Option<Mapping>,
        spec: JobSpec,
        identity: Option<String>,
        ticket: Option<Ticket>,
        record: &Record,
    ) -> bool {
        let Some(experiment) = next else {
            return false;
        };
        if !flaky(record.status) || self.state.reason().is_some() {
            return false;
        }
        let Capacity::Now(lease) = self.executor.capacity(&experiment) else {
            return false;
        };
        let document = record.document();
        self.observers.each(|o| o.attempt_failed(record, &document));
        let how = match record.exit_code {
            Some(code) => format!("{} with exit code {code}", record.status.as_str()),
            None => record.status.as_str().to_owned(),
        };
        let dir = record.run_dir.as_ref().map_or_else(String::new, |d| {
            format!("; its output stays in {}", d.display())
        });
        self.observers.message(&format!(
            "retrying `{}`: attempt {} of {} ({how}{dir})",
            record.name,
            attempt(&experiment),
            retries(&experiment) + 1,
        ));
        let ready = Ready {
            experiment,
            spec,
            lease,
            identity,
        };
        self.start(ready, None, ticket);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp(text: &str) -> Mapping {
        yaml_serde::from_str(text).unwrap()
    }

    #[test]
    fn attempts_count_up_to_retries_plus_one() {
        assert!(next_attempt(&exp("a: 1")).is_none());
        let second = next_attempt(&exp("a: 1\nRetries: 2")).unwrap();
        assert_eq!(second[ATTEMPTS], Value::from(2));
        let third = next_attempt(&second).unwrap();
        assert_eq!(third[ATTEMPTS], Value::from(3));
        assert_eq!(third.len(), 3, "ATTEMPTS is updated, not added twice");
        assert!(next_attempt(&third).is_none());
    }

    #[test]
    fn only_failures_and_timeouts_are_retried() {
        assert!(flaky(Status::Failed) && flaky(Status::Timeout));
        assert!(!flaky(Status::Done) && !flaky(Status::Interrupted));
    }

    #[test]
    fn bad_retries_are_reported() {
        assert!(check(&exp("Retries: 3")).is_none());
        assert!(check(&exp("Retries: -1")).unwrap().contains("non-negative"));
        assert!(check(&exp("Retries: two")).is_some());
    }
}
