//! Running the queue: the session (its state machine, admission of the
//! queue's head, events), the Ctrl-C policy, progress and the store hook.

mod events;
mod progress;
mod session;
mod signals;
mod store_hook;

pub(crate) use events::{Observer, Summary};
pub(crate) use progress::Progress;
pub(crate) use session::{Event, Session, SessionOptions};
pub(crate) use signals::install as install_signal_handlers;
pub(crate) use store_hook::{Lookup, RunStore};
