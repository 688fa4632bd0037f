//! Outbound notifications (SPEC §7): Slack messages when an experiment
//! fails, when the queue finishes, and for every experiment with
//! `Global.slack.each`. The network part is behind the `slack` feature;
//! without it the same API warns once and sends nothing.

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
