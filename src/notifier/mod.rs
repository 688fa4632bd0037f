//! Outbound notifications (SPEC §7): Slack messages when an experiment
//! fails, when the queue finishes, and for every experiment with
//! `Global.slack.each`. The network part is behind the `slack` feature;
//! without it the same API warns once and sends nothing.
//!
//! How a runner uses it: `model::Global` reads `Global.slack` before
//! anything runs (a malformed one is bad input); `SlackObserver::from_settings`
//! starts the notifier, and the session tells it, as an observer, about
//! every finished experiment (its `Record`) and about the end of the queue
//! (the runner's `Summary`). None of these calls waits for the network.

mod dispatcher;
mod message;
mod observer;
mod settings;
mod warnings;

#[cfg(feature = "slack")]
mod bounded;
#[cfg(not(feature = "slack"))]
mod disabled;
#[cfg(feature = "slack")]
mod slack;

#[cfg(test)]
mod tests;

pub(crate) use observer::SlackObserver;
pub(crate) use settings::SlackConfigError;
pub(crate) use settings::SlackSettings;
