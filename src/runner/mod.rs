//! Running experiments: the session (scheduling, Ctrl-C, timeouts), the
//! executor seam and its local and mock implementations, signals and the
//! progress display.

mod events;
mod executor;
mod job;
pub(crate) mod mock;
mod process;
mod progress;
mod session;
mod signals;
mod slots;
mod store_hook;

pub use events::{Observer, Started, Summary};
pub use executor::{Executor, Exit, Job, OnExit, Running, StartError, Stop};
pub use job::{create_run_dir, name_of, read_results, JobSpec};
pub use mock::{Behavior, MockExecutor, MockLog};
pub use process::{LocalExecutor, OutputSink, Stream, Terminal};
pub use progress::Progress;
pub use session::{Event, Session, SessionOptions};
pub use signals::{install as install_signal_handlers, SignalKind};
pub use slots::{detect_gpus, parse_gpus, Lease, SlotConfig, SlotError, Slots};
pub use store_hook::{Lookup, RunStore};
