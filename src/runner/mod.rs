//! Running the queue: the session (a state machine with one event loop),
//! admission of the queue's head, the outcome of a finished job, the
//! structured events and their observers, the Ctrl-C policy, progress and
//! the store hook.

mod admission;
mod awaits;
mod events;
mod outcome;
mod paint;
mod progress;
mod session;
mod signals;
mod state;
mod store_hook;

pub(crate) use awaits::{Dependencies, Readiness};
pub(crate) use events::{Cached, Observer, Started, Summary};
pub(crate) use outcome::record as outcome_record;
pub(crate) use paint::{ColourChoice, Paint};
pub(crate) use progress::{DisplayOptions, Progress};
pub(crate) use session::retry::{check as check_retries, ATTEMPTS, RETRIES};
pub(crate) use session::{Event, Session, SessionOptions};
pub(crate) use signals::install as install_signal_handlers;
pub(crate) use signals::SignalKind;
pub(crate) use store_hook::{Lookup, RunStore};
