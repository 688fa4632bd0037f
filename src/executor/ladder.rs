//! The stop ladder of one job, shared by the executors: a stop request is
//! carried out at once and escalated after a grace period (Interrupt →
//! Terminate → Kill), and a job that outlives its `Timeout` is terminated,
//! then killed. The executor's own thread asks `due` what to send when.

use std::time::{Duration, Instant};

use super::{Cause, Stop};

#[derive(Debug)]
pub(crate) struct Ladder {
    name: String,
    /// The next step and when it is due.
    next: Option<(Instant, Stop)>,
    timeout: Option<(Instant, Duration)>,
    /// Grace between the steps after a timeout.
    grace: Duration,
    requested: bool,
    timed_out: bool,
}

impl Ladder {
    /// A job named `name` that started at `start`.
    pub(crate) fn new(
        name: &str,
        start: Instant,
        timeout: Option<Duration>,
        grace: Duration,
    ) -> Self {
        Self {
            name: name.to_owned(),
            next: None,
            timeout: timeout.map(|t| (start + t, t)),
            grace,
            requested: false,
            timed_out: false,
        }
    }

    /// The session asks the job to stop: send `how` now, escalate later.
    pub(crate) fn request(&mut self, how: Stop, grace: Duration, now: Instant) -> Stop {
        self.requested = true;
        self.timeout = None;
        self.next = how.next().map(|next| (now + grace, next));
        how
    }

    /// The step to send now, if one is due, with a note for people.
    pub(crate) fn due(&mut self, now: Instant) -> Option<(Stop, String)> {
        if let Some((at, limit)) = self.timeout {
            if now >= at {
                self.timeout = None;
                self.timed_out = true;
                self.next = Some((now + self.grace, Stop::Kill));
                let note = format!(
                    "`{}` ran longer than its `Timeout` of {} s: sent {}",
                    self.name,
                    limit.as_secs_f64(),
                    signal_name(Stop::Terminate)
                );
                return Some((Stop::Terminate, note));
            }
        }
        let (at, how) = self.next?;
        if now < at {
            return None;
        }
        let grace = at.saturating_duration_since(now).max(self.grace);
        self.next = how.next().map(|next| (now + grace, next));
        let note = format!(
            "`{}` is still running: sent {}",
            self.name,
            signal_name(how)
        );
        Some((how, note))
    }

    /// When `due` has something next.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        [self.timeout.map(|t| t.0), self.next.map(|n| n.0)]
            .into_iter()
            .flatten()
            .min()
    }

    /// Why the job ended, as far as the ladder knows.
    pub(crate) fn cause(&self) -> Cause {
        if self.requested {
            Cause::Stopped
        } else if self.timed_out {
            Cause::Timeout
        } else {
            Cause::Ended
        }
    }
}

/// The local meaning of a stop step, for messages.
pub(crate) fn signal_name(how: Stop) -> &'static str {
    match how {
        Stop::Interrupt => "SIGINT",
        Stop::Terminate => "SIGTERM",
        Stop::Kill => "SIGKILL",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_escalate_after_the_grace() {
        let t0 = Instant::now();
        let grace = Duration::from_millis(10);
        let mut ladder = Ladder::new("a", t0, None, grace);
        assert_eq!(ladder.due(t0), None);
        assert_eq!(ladder.request(Stop::Interrupt, grace, t0), Stop::Interrupt);
        assert_eq!(ladder.due(t0 + Duration::from_millis(5)), None);
        let (how, note) = ladder.due(t0 + grace).unwrap();
        assert_eq!(how, Stop::Terminate);
        assert_eq!(note, "`a` is still running: sent SIGTERM");
        assert_eq!(ladder.due(t0 + grace * 2).unwrap().0, Stop::Kill);
        assert_eq!(ladder.due(t0 + grace * 10), None);
        assert_eq!(ladder.cause(), Cause::Stopped);
    }

    #[test]
    fn timeouts_terminate_then_kill_unless_a_request_came_first() {
        let t0 = Instant::now();
        let limit = Duration::from_millis(30);
        let grace = Duration::from_millis(10);
        let mut ladder = Ladder::new("a", t0, Some(limit), grace);
        assert_eq!(ladder.deadline(), Some(t0 + limit));
        let (how, note) = ladder.due(t0 + limit).unwrap();
        assert_eq!(how, Stop::Terminate);
        assert!(
            note.contains("ran longer than its `Timeout` of 0.03 s"),
            "{note}"
        );
        assert_eq!(ladder.due(t0 + limit + grace).unwrap().0, Stop::Kill);
        assert_eq!(ladder.cause(), Cause::Timeout);

        let mut ladder = Ladder::new("b", t0, Some(limit), grace);
        ladder.request(Stop::Interrupt, grace, t0);
        assert_eq!(ladder.deadline(), Some(t0 + grace));
        assert_eq!(ladder.cause(), Cause::Stopped);
    }
}
