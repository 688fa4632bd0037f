//! `Notifier`: the runner tells it what happened, it decides what becomes a
//! message (a failure at once, every experiment with `each: true`, the end of
//! the queue) and hands the text to the transport. It never blocks and never
//! fails: every problem is one `warning: slack: …` line.

use std::fmt;
use std::time::Duration;

use yaml_serde::Mapping;

use super::message::{FinishedExperiment, QueueSummary};
use super::settings::{SlackConfigError, SlackSettings};
use super::warnings::{stderr_sink, Warner, WarningSink};

#[cfg(not(feature = "slack"))]
use super::disabled::{Connection, Outbox, Outgoing};
#[cfg(feature = "slack")]
use super::slack::{Connection, Outbox, Outgoing};

/// Slack's Web API, used when `SLACK_API_URL` is not set.
pub const DEFAULT_SLACK_API_URL: &str = "https://slack.com/api";

/// What the notifier takes from the environment, plus the knobs tests turn.
#[derive(Clone)]
pub struct NotifierOptions {
    /// The bot token (`SLACK_BOT_TOKEN`, `xoxb-…`).
    pub token: Option<String>,
    /// The Web API base URL (`SLACK_API_URL`); requests go to `{url}/chat.postMessage`.
    pub api_url: Option<String>,
    /// How long one `chat.postMessage` may take.
    pub request_timeout: Duration,
    /// How many messages may wait to be sent; more are dropped with a warning.
    pub queue_capacity: usize,
    /// Where warning lines go (stderr by default).
    pub warnings: WarningSink,
}

impl NotifierOptions {
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_QUEUE_CAPACITY: usize = 64;

    /// `SLACK_BOT_TOKEN` and `SLACK_API_URL` from the environment, warnings
    /// on stderr, default limits.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Self {
            token: var("SLACK_BOT_TOKEN"),
            api_url: var("SLACK_API_URL"),
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            queue_capacity: Self::DEFAULT_QUEUE_CAPACITY,
            warnings: stderr_sink(),
        }
    }
}

impl fmt::Debug for NotifierOptions {
    // By hand, so that the token never reaches a debug print.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotifierOptions")
            .field("token", &self.token.as_ref().map(|_| "[token]"))
            .field("api_url", &self.api_url)
            .field("request_timeout", &self.request_timeout)
            .field("queue_capacity", &self.queue_capacity)
            .finish_non_exhaustive()
    }
}

/// Posts Slack messages about a run. Built once per run from `Global`.
#[derive(Debug)]
pub struct Notifier {
    settings: SlackSettings,
    summary: QueueSummary,
    outbox: Outbox,
}

impl Notifier {
    /// `Notifier::from_global_with(global, NotifierOptions::from_env())`.
    pub fn from_global(global: &Mapping) -> Result<Option<Self>, SlackConfigError> {
        Self::from_global_with(global, NotifierOptions::from_env())
    }

    /// Read `Global.slack` and start the sending thread.
    ///
    /// * `Err` when `Global.slack` is malformed: bad input, nothing should run.
    /// * `Ok(None)` when there is nothing to do: no `Global.slack` (silently),
    ///   or one warning line when this build has no Slack support or no
    ///   token is set.
    pub fn from_global_with(
        global: &Mapping,
        options: NotifierOptions,
    ) -> Result<Option<Self>, SlackConfigError> {
        let Some(settings) = SlackSettings::from_global(global)? else {
            return Ok(None);
        };
        let token = options.token.filter(|t| !t.trim().is_empty());
        let warner = Warner::new(options.warnings, token.clone());
        if !Outbox::SUPPORTED {
            warner.warn(
                "`Global.slack` is set, but this build of cool-runner has no Slack support, \
                 so no message will be sent; hint: rebuild with `--features slack`",
            );
            return Ok(None);
        }
        let Some(token) = token else {
            warner.warn(
                "`Global.slack` is set, but `SLACK_BOT_TOKEN` is not, so no message will be \
                 sent; hint: `export SLACK_BOT_TOKEN=xoxb-…` (see the README)",
            );
            return Ok(None);
        };
        let api_url = options
            .api_url
            .as_deref()
            .unwrap_or(DEFAULT_SLACK_API_URL)
            .trim()
            .trim_end_matches('/')
            .to_owned();
        let connection = Connection {
            token,
            api_url,
            channel: settings.channel.clone(),
            request_timeout: options.request_timeout,
        };
        match Outbox::start(connection, options.queue_capacity, warner.clone()) {
            Ok(outbox) => Ok(Some(Self {
                settings,
                summary: QueueSummary::default(),
                outbox,
            })),
            Err(err) => {
                warner.warn(&format!(
                    "failed to start the sending thread ({err}); no message will be sent"
                ));
                Ok(None)
            }
        }
    }

    pub fn settings(&self) -> &SlackSettings {
        &self.settings
    }

    /// What the queue-end message will say so far.
    pub fn summary(&self) -> &QueueSummary {
        &self.summary
    }

    /// Tell about a finished experiment: posted at once when it failed or
    /// timed out, or always with `each: true`; counted for the summary.
    pub fn experiment_finished(&mut self, experiment: &FinishedExperiment) {
        self.summary.add(experiment);
        if self.settings.each || experiment.status.is_failure() {
            self.outbox.send(Outgoing {
                text: experiment.to_mrkdwn(),
                about: experiment.short_label(),
            });
        }
    }

    /// Tell that the queue is finished, after `total_time` of wall-clock
    /// time: posts the summary (counts, time, extremes of the results).
    pub fn queue_finished(&mut self, total_time: Duration) {
        self.summary.total_time = total_time.as_secs_f64();
        self.outbox.send(Outgoing {
            text: self.summary.to_mrkdwn(),
            about: "the end of the queue".to_owned(),
        });
    }

    /// Wait at most `deadline` for the queued messages to be posted, then
    /// stop. Dropping a `Notifier` does the same with a 5-second deadline.
    pub fn shutdown(mut self, deadline: Duration) {
        self.outbox.shutdown(deadline);
    }
}
