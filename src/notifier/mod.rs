//! Outbound notifications (SPEC §7): Slack messages when an experiment
//! fails, when the queue finishes, and for every experiment with
//! `Global.slack.each`. The network part is behind the `slack` feature;
//! without it the same API warns once and sends nothing.
//!
//! How a runner uses it: build it once from `Global` before anything runs (a
//! malformed `Global.slack` is bad input), tell it about every finished
//! experiment with the document it logs, and about the end of the queue.
//! None of these calls waits for the network.
//!
//! ```no_run
//! use std::time::{Duration, Instant};
//!
//! use cool_runner::notifier::{FinishedExperiment, Notifier};
//! use yaml_serde::Mapping;
//!
//! # fn run(global: &Mapping, logged: &[Mapping]) -> Result<(), cool_runner::error::Error> {
//! let mut notifier = Notifier::from_global(global)?;
//! let start = Instant::now();
//! for (index, document) in logged.iter().enumerate() {
//!     // ... run experiment `index`, append `document` to its `YamlLog` ...
//!     if let Some(notifier) = &mut notifier {
//!         notifier.experiment_finished(&FinishedExperiment::from_log_document(index, document));
//!     }
//! }
//! if let Some(mut notifier) = notifier {
//!     notifier.queue_finished(start.elapsed());
//!     notifier.shutdown(Duration::from_secs(5));
//! }
//! # Ok(())
//! # }
//! ```

mod dispatcher;
mod message;
mod settings;
mod warnings;

#[cfg(not(feature = "slack"))]
mod disabled;
#[cfg(feature = "slack")]
mod slack;

pub use dispatcher::{Notifier, NotifierOptions, DEFAULT_SLACK_API_URL};
pub use message::{ExperimentStatus, Extremes, FinishedExperiment, QueueSummary};
pub use settings::{SlackConfigError, SlackSettings};
pub use warnings::WarningSink;
