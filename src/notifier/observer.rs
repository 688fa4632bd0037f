//! The notifier as an observer of a run: finished experiments and the end
//! of the queue go to Slack. The notifier posts from its own thread, so
//! none of this waits on the network except the final flush, which is
//! bounded.

use std::time::Duration;

use super::dispatcher::{Notifier, NotifierOptions};
use super::settings::SlackSettings;
use crate::runner::{Observer, Summary};
use crate::yaml_log::Record;

/// Forwards a run's events to a `Notifier`.
#[derive(Debug)]
pub(crate) struct SlackObserver {
    /// Taken at the end of the queue.
    notifier: Option<Notifier>,
}

impl SlackObserver {
    /// An observer for `Global.slack` with the token and API URL from the
    /// environment; `None` when nothing will be posted (see
    /// `Notifier::start`). Build it before anything runs: its warnings
    /// belong at the top of the output.
    pub(crate) fn from_settings(settings: Option<&SlackSettings>) -> Option<Self> {
        Notifier::start(settings, NotifierOptions::from_env()).map(Self::new)
    }

    pub(crate) fn new(notifier: Notifier) -> Self {
        Self {
            notifier: Some(notifier),
        }
    }
}

impl Observer for SlackObserver {
    fn experiment_finished(&mut self, record: &Record, _document: &yaml_serde::Mapping) {
        if let Some(notifier) = &mut self.notifier {
            notifier.experiment_finished(record);
        }
    }

    fn queue_finished(&mut self, summary: &Summary) {
        if let Some(mut notifier) = self.notifier.take() {
            notifier.queue_finished(summary);
            // Unsent messages get a few seconds; a person who stopped the run
            // is not kept waiting long.
            let deadline = if summary.stopped { 1 } else { 5 };
            notifier.shutdown(Duration::from_secs(deadline));
        }
    }
}
