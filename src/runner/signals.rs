//! Signals sent to the runner: SIGINT (Ctrl-C), SIGTERM and SIGHUP.
//!
//! The handler only forwards the signal to the session's event channel (a
//! signal-hook thread reading its self-pipe); the session decides what it
//! means. The policy, implemented in `session.rs`:
//!
//! * first Ctrl-C: the module's process group gets SIGINT, and a window
//!   opens that lasts until two seconds after the module has ended; the
//!   experiment is logged `interrupted` and, if the window passes quietly,
//!   the next experiment starts. A module still alive `grace` after the
//!   SIGINT gets SIGTERM, and `grace` later SIGKILL.
//! * a second Ctrl-C in the window, or SIGTERM/SIGHUP at any time: stop
//!   everything: the module gets SIGTERM, SIGKILL `grace` later; the
//!   interrupted experiment goes back to the head of the queue, every
//!   pending experiment stays there, and the runner exits with 130.
//! * a third one: SIGKILL at once.
//! * Ctrl-C while no module runs (waiting with `--follow`, or for a valid
//!   queue file): stop.
//! * With several modules running (parallel slots), each step acts on all
//!   of them at once, and the window opens when the last one has ended.

use std::io;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// What a signal asks of the runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignalKind {
    /// SIGINT: the person pressed Ctrl-C.
    Interrupt,
    /// SIGTERM or SIGHUP: stop everything (like a second Ctrl-C).
    Terminate,
}

/// Install the handlers (once, at the start of a run) and call `forward`
/// from a background thread for every signal received.
pub(crate) fn install(forward: impl Fn(SignalKind) + Send + 'static) -> io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("signals".to_owned())
        .spawn(move || {
            for signal in signals.forever() {
                forward(if signal == SIGINT {
                    SignalKind::Interrupt
                } else {
                    SignalKind::Terminate
                });
            }
        })?;
    Ok(())
}
