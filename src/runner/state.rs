//! The session's state: one value instead of flags. The Ctrl-C policy
//! (SPEC §4, README "Stopping a run") is the transition function `signal`:
//!
//! - running, modules running: the first Ctrl-C interrupts them
//!   (`Interrupting`), nothing new starts until they have ended;
//! - then a `Window` of two seconds: a Ctrl-C in it stops the run, otherwise
//!   the next experiment starts;
//! - a second Ctrl-C while interrupting, or SIGTERM, stops the run: the
//!   running modules are terminated and put back in the queue;
//! - once stopping, another Ctrl-C kills them.
//!
//! `--fail-fast`, a queue file or a log that can no longer be written also
//! stop the run (nothing new starts, running modules finish): the reasons are
//! ordered, and a stronger one replaces a weaker one.

use std::time::Instant;

use super::signals::SignalKind;
use crate::executor::Stop;

/// Why nothing new starts, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Reason {
    /// `--fail-fast`: an experiment failed or timed out.
    FailedFast,
    /// The queue file can no longer be written.
    QueueBroken,
    /// A log document could not be written (full disk).
    LogBroken,
    /// The person stopped the run (second Ctrl-C, SIGTERM).
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Experiments start as slots free up.
    Running,
    /// A first Ctrl-C interrupted the running modules; nothing starts
    /// until they have ended.
    Interrupting,
    /// The interrupted modules ended: a Ctrl-C before `until` stops the run.
    Window { until: Instant },
    /// Nothing new starts; the run ends when the running modules have.
    Stopping(Reason),
}

/// What a signal makes the session do to the running modules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Send this stop request to every running module.
    StopAll(Stop),
    /// Nothing is running: just stop.
    Stop,
}

impl State {
    /// Whether an experiment may start now.
    pub(crate) fn admits(self) -> bool {
        self == Self::Running
    }

    pub(crate) fn reason(self) -> Option<Reason> {
        match self {
            Self::Stopping(reason) => Some(reason),
            _ => None,
        }
    }

    /// Stop starting experiments for `reason`, unless a stronger reason
    /// stops the run already.
    pub(crate) fn stop(&mut self, reason: Reason) {
        *self = Self::Stopping(self.reason().map_or(reason, |r| r.max(reason)));
    }

    /// The transition on a signal, with what to do about it.
    pub(crate) fn signal(&mut self, kind: SignalKind, running: bool) -> Action {
        let action = match (*self, kind, running) {
            (_, _, false) => Action::Stop,
            (Self::Running, SignalKind::Interrupt, true) => {
                *self = Self::Interrupting;
                return Action::StopAll(Stop::Interrupt);
            }
            (Self::Stopping(Reason::Stopped), _, true) => Action::StopAll(Stop::Kill),
            (_, _, true) => Action::StopAll(Stop::Terminate),
        };
        self.stop(Reason::Stopped);
        action
    }

    /// The running modules have all ended.
    pub(crate) fn idle(&mut self, now: Instant, window: std::time::Duration) {
        if *self == Self::Interrupting {
            *self = Self::Window {
                until: now + window,
            };
        }
    }

    /// Time passed: the window closes.
    pub(crate) fn tick(&mut self, now: Instant) {
        if let Self::Window { until } = *self {
            if now >= until {
                *self = Self::Running;
            }
        }
    }

    /// When `tick` has something to do.
    pub(crate) fn deadline(self) -> Option<Instant> {
        match self {
            Self::Window { until } => Some(until),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn ctrl_c_ladder() {
        let mut state = State::Running;
        assert_eq!(
            state.signal(SignalKind::Interrupt, true),
            Action::StopAll(Stop::Interrupt)
        );
        assert_eq!(state, State::Interrupting);
        assert!(!state.admits());
        assert_eq!(
            state.signal(SignalKind::Interrupt, true),
            Action::StopAll(Stop::Terminate)
        );
        assert_eq!(state, State::Stopping(Reason::Stopped));
        assert_eq!(
            state.signal(SignalKind::Interrupt, true),
            Action::StopAll(Stop::Kill)
        );
    }

    #[test]
    fn the_window_after_an_interrupt() {
        let t0 = Instant::now();
        let mut state = State::Interrupting;
        state.idle(t0, Duration::from_secs(2));
        assert_eq!(state.deadline(), Some(t0 + Duration::from_secs(2)));
        state.tick(t0 + Duration::from_secs(1));
        assert!(!state.admits());
        let mut stopped = state;
        assert_eq!(stopped.signal(SignalKind::Interrupt, false), Action::Stop);
        assert_eq!(stopped, State::Stopping(Reason::Stopped));
        state.tick(t0 + Duration::from_secs(2));
        assert!(state.admits());
    }

    #[test]
    fn sigterm_and_fail_fast() {
        let mut state = State::Running;
        assert_eq!(
            state.signal(SignalKind::Terminate, true),
            Action::StopAll(Stop::Terminate)
        );
        let mut state = State::Running;
        state.stop(Reason::FailedFast);
        state.stop(Reason::QueueBroken);
        assert_eq!(state.reason(), Some(Reason::QueueBroken));
        // A Ctrl-C after `--fail-fast` stopped the run terminates what runs.
        assert_eq!(
            state.signal(SignalKind::Interrupt, true),
            Action::StopAll(Stop::Terminate)
        );
        state.stop(Reason::FailedFast);
        assert_eq!(state.reason(), Some(Reason::Stopped));
    }
}
