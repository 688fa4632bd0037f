//! `Notifier`: the runner tells it what happened, it decides what becomes a
//! message (a failure at once, every experiment with `each: true`, the end of
//! the queue) and hands the text to the transport. It never blocks and never
//! fails: every problem is one `warning: slack: …` line.

use std::fmt;
use std::time::Duration;

use super::message::{experiment_text, queue_text, short_label, Highlights};
use super::settings::SlackSettings;
use super::warnings::{stderr_sink, Warner, WarningSink};
use crate::runner::Summary;
use crate::yaml_log::Record;

#[cfg(not(feature = "slack"))]
use super::disabled::{Connection, Outbox, Outgoing};
#[cfg(feature = "slack")]
use super::slack::{Connection, Outbox, Outgoing};

/// Slack's Web API, used when `SLACK_API_URL` is not set.
pub(crate) const DEFAULT_SLACK_API_URL: &str = "https://slack.com/api";

/// What the notifier takes from the environment, plus the knobs tests turn.
#[derive(Clone)]
pub(crate) struct NotifierOptions {
    /// The bot token (`SLACK_BOT_TOKEN`, `xoxb-…`).
    pub(crate) token: Option<String>,
    /// The Web API base URL (`SLACK_API_URL`); requests go to `{url}/chat.postMessage`.
    pub(crate) api_url: Option<String>,
    /// How long one `chat.postMessage` may take.
    pub(crate) request_timeout: Duration,
    /// How many messages may wait to be sent; more are dropped with a warning.
    pub(crate) queue_capacity: usize,
    /// Where warning lines go (stderr by default).
    pub(crate) warnings: WarningSink,
}

impl NotifierOptions {
    pub(crate) const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
    pub(crate) const DEFAULT_QUEUE_CAPACITY: usize = 64;

    /// `SLACK_BOT_TOKEN` and `SLACK_API_URL` from the environment, warnings
    /// on stderr, default limits.
    pub(crate) fn from_env() -> Self {
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

/// Posts Slack messages about a run. Built once per run from `Global.slack`.
#[derive(Debug)]
pub(crate) struct Notifier {
    settings: SlackSettings,
    highlights: Highlights,
    outbox: Outbox,
}

impl Notifier {
    /// Start the sending thread for `Global.slack` (see `model::Global`).
    /// `None` when there is nothing to do: no `Global.slack` (silently), or
    /// one warning line when this build has no Slack support or no token is
    /// set.
    pub(crate) fn start(
        settings: Option<&SlackSettings>,
        options: NotifierOptions,
    ) -> Option<Self> {
        let settings = settings?.clone();
        let token = options.token.filter(|t| !t.trim().is_empty());
        let warner = Warner::new(options.warnings, token.clone());
        if !Outbox::SUPPORTED {
            warner.warn(
                "`Global.slack` is set, but this build of cool-runner has no Slack support, \
                 so no message will be sent; hint: rebuild with `--features slack`",
            );
            return None;
        }
        let Some(token) = token else {
            warner.warn(
                "`Global.slack` is set, but `SLACK_BOT_TOKEN` is not, so no message will be \
                 sent; hint: `export SLACK_BOT_TOKEN=xoxb-…` (see the README)",
            );
            return None;
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
            Ok(outbox) => Some(Self {
                settings,
                highlights: Highlights::default(),
                outbox,
            }),
            Err(err) => {
                warner.warn(&format!(
                    "failed to start the sending thread ({err}); no message will be sent"
                ));
                None
            }
        }
    }

    /// Tell about a finished experiment: posted at once when it failed or
    /// timed out, or always with `each: true`; its results go into the
    /// queue-end message.
    pub(crate) fn experiment_finished(&mut self, record: &Record) {
        self.highlights.add(record);
        if self.settings.each || record.status.is_failure() {
            self.outbox.send(Outgoing {
                text: experiment_text(record),
                about: short_label(record),
            });
        }
    }

    /// Tell that the queue is finished: posts the runner's counts (done,
    /// failed, cached, skipped, ...), the time and the extremes of the
    /// results.
    pub(crate) fn queue_finished(&mut self, summary: &Summary) {
        self.outbox.send(Outgoing {
            text: queue_text(summary, &self.highlights),
            about: "the end of the queue".to_owned(),
        });
    }

    /// Wait at most `deadline` for the queued messages to be posted, then
    /// stop. Dropping a `Notifier` does the same with a 5-second deadline.
    pub(crate) fn shutdown(mut self, deadline: Duration) {
        self.outbox.shutdown(deadline);
    }
}
