//! Slack notifications (issue 5), through the library's `Notifier` against
//! the fake Slack server. End-to-end tests through the binary come once the
//! runner calls the notifier.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cool_runner::notifier::{FinishedExperiment, Notifier, NotifierOptions, SlackConfigError};
use yaml_serde::Mapping;

/// A token that must never show up in any output.
const TOKEN: &str = "xoxb-test-0123456789-SECRET";

/// Captured warning lines.
#[derive(Clone, Default)]
struct Warnings(Arc<Mutex<Vec<String>>>);

impl Warnings {
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// Every line is a Slack warning, and none holds the token.
    fn assert_clean(&self) {
        for line in self.lines() {
            assert!(line.starts_with("warning: slack: "), "{line}");
            assert!(!line.contains(TOKEN), "the token leaked: {line}");
            assert!(!line.contains("SECRET"), "part of the token leaked: {line}");
            assert!(!line.contains('\n'), "not one line: {line:?}");
        }
    }
}

fn options(api_url: Option<String>, token: Option<&str>, warnings: &Warnings) -> NotifierOptions {
    let lines = Arc::clone(&warnings.0);
    NotifierOptions {
        token: token.map(str::to_owned),
        api_url,
        request_timeout: Duration::from_secs(5),
        queue_capacity: 16,
        warnings: Arc::new(move |line: &str| lines.lock().unwrap().push(line.to_owned())),
    }
}

fn global(yaml: &str) -> Mapping {
    yaml_serde::from_str(yaml).unwrap()
}

fn experiment(index: usize, yaml: &str) -> FinishedExperiment {
    FinishedExperiment::from_log_document(index, &yaml_serde::from_str(yaml).unwrap())
}

const FAILED: &str = "Name: small\nlr: 0.1\nREP: 1\nHOST: gpu1\nLOSS: 7.5\n\
                      TIME_ELAPSED: 12.34\nSTATUS: failed\nEXIT_CODE: 2\n";
const DONE_A: &str = "Name: big\nREP: 0\nACC: 0.9\nLOSS: 0.25\nTIME_ELAPSED: 60\nSTATUS: done\n";
const DONE_B: &str = "Name: big\nREP: 1\nACC: 0.7\nLOSS: 0.5\nTIME_ELAPSED: 61\nSTATUS: done\n";

#[cfg(feature = "slack")]
mod with_feature {
    use std::time::{Duration, Instant};

    use super::{experiment, global, options, Warnings, DONE_A, DONE_B, FAILED, TOKEN};
    use crate::fake_slack::{FakeSlack, Reply, Request};
    use cool_runner::notifier::{Notifier, NotifierOptions};

    const CONFIG: &str = "repeat: 1\nslack: {channel: \"#experiments\"}\n";
    const WAIT: Duration = Duration::from_secs(10);

    fn notifier(config: &str, api_url: String, warnings: &Warnings) -> Notifier {
        Notifier::from_global_with(
            &global(config),
            options(Some(api_url), Some(TOKEN), warnings),
        )
        .expect("valid Global.slack")
        .expect("a notifier")
    }

    #[test]
    fn failure_is_posted_at_once_with_the_token_and_the_channel() {
        let slack = FakeSlack::start(Reply::Ok);
        let warnings = Warnings::default();
        let mut n = notifier(CONFIG, slack.url(), &warnings);
        n.experiment_finished(&experiment(0, DONE_A));
        n.experiment_finished(&experiment(1, FAILED));
        // Before any shutdown: the failure goes out while the queue runs on.
        let requests = slack.wait_for(1, WAIT);
        assert_eq!(requests.len(), 1, "only the failure is posted");
        let r = &requests[0];
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/api/chat.postMessage");
        assert_eq!(r.header("authorization"), Some(&*format!("Bearer {TOKEN}")));
        assert!(r
            .header("content-type")
            .unwrap()
            .starts_with("application/json"));
        assert_eq!(r.channel(), "#experiments");
        assert_eq!(
            r.text(),
            ":x: *small* #1 · REP 1 — *failed* (exit 2) after 12.3 s on `gpu1`\nLOSS 7.5"
        );
        n.shutdown(WAIT);
        assert_eq!(slack.requests().len(), 1);
        assert_eq!(warnings.lines(), Vec::<String>::new());
    }

    #[test]
    fn queue_end_summary() {
        let slack = FakeSlack::start(Reply::Ok);
        let warnings = Warnings::default();
        let mut n = notifier(CONFIG, slack.url(), &warnings);
        n.experiment_finished(&experiment(0, DONE_A));
        n.experiment_finished(&experiment(1, DONE_B));
        n.experiment_finished(&experiment(2, FAILED));
        n.experiment_finished(&experiment(
            3,
            "Name: c\nSTATUS: interrupted\nTIME_ELAPSED: 1\n",
        ));
        n.queue_finished(Duration::from_secs(125));
        n.shutdown(WAIT);
        let requests = slack.requests();
        let texts: Vec<&str> = requests.iter().map(Request::text).collect();
        assert_eq!(texts.len(), 2, "{texts:#?}");
        assert!(texts[0].starts_with(":x: *small* #2"), "{}", texts[0]);
        assert_eq!(
            texts[1],
            ":warning: *Queue finished*: 4 experiments in 2 min 05 s — \
             2 done, 1 failed, 1 interrupted on `gpu1`\n\
             ACC: max 0.9 (*big* #0 · REP 0), min 0.7 (*big* #1 · REP 1)\n\
             LOSS: max 7.5 (*small* #2 · REP 1), min 0.25 (*big* #0 · REP 0)"
        );
        assert!(requests.iter().all(|r| r.channel() == "#experiments"));
        assert_eq!(warnings.lines(), Vec::<String>::new());
    }

    #[test]
    fn each_posts_every_finished_experiment() {
        let slack = FakeSlack::start(Reply::Ok);
        let warnings = Warnings::default();
        let config = "slack: {channel: C0123, each: true}\n";
        let mut n = notifier(config, slack.url(), &warnings);
        n.experiment_finished(&experiment(0, DONE_A));
        assert_eq!(slack.wait_for(1, WAIT).len(), 1, "posted at once");
        n.experiment_finished(&experiment(1, DONE_B));
        n.experiment_finished(&experiment(2, FAILED));
        n.queue_finished(Duration::from_secs(3));
        n.shutdown(WAIT);
        let requests = slack.requests();
        let texts: Vec<&str> = requests.iter().map(Request::text).collect();
        assert_eq!(texts.len(), 4, "{texts:#?}");
        assert_eq!(
            texts[0],
            ":white_check_mark: *big* #0 · REP 0 — *done* after 1 min 00 s\nACC 0.9 · LOSS 0.25"
        );
        assert!(texts[1].starts_with(":white_check_mark: *big* #1 · REP 1"));
        assert!(texts[2].starts_with(":x: *small* #2"));
        assert!(texts[3].contains("*Queue finished*: 3 experiments"));
        assert!(requests.iter().all(|r| r.channel() == "C0123"));
        assert_eq!(warnings.lines(), Vec::<String>::new());
    }

    #[test]
    fn a_minimal_ok_reply_counts_as_sent() {
        let slack = FakeSlack::start(Reply::Raw(
            r#"{"ok":true,"channel":"C1","ts":"1.2"}"#.into(),
        ));
        let warnings = Warnings::default();
        let mut n = notifier(CONFIG, slack.url(), &warnings);
        n.experiment_finished(&experiment(0, FAILED));
        n.shutdown(WAIT);
        assert_eq!(slack.requests().len(), 1);
        assert_eq!(warnings.lines(), Vec::<String>::new());
    }

    #[test]
    fn server_down_is_one_warning_per_message() {
        let warnings = Warnings::default();
        let mut n = notifier(CONFIG, FakeSlack::down_url(), &warnings);
        let start = Instant::now();
        n.experiment_finished(&experiment(4, FAILED));
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "the caller never waits"
        );
        n.shutdown(WAIT);
        let lines = warnings.lines();
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert!(
            lines[0].starts_with(
                "warning: slack: failed to post the message about experiment #4 `small` \
                 to `#experiments`: "
            ),
            "{}",
            lines[0]
        );
        assert!(lines[0].contains("Connection refused"), "{}", lines[0]);
        warnings.assert_clean();
    }

    #[test]
    fn ok_false_is_a_warning_without_the_token() {
        // Even a server that echoes the token cannot make it leak.
        let slack = FakeSlack::start(Reply::Error(format!("channel_not_found {TOKEN}")));
        let warnings = Warnings::default();
        let mut n = notifier(CONFIG, slack.url(), &warnings);
        n.experiment_finished(&experiment(0, FAILED));
        n.queue_finished(Duration::from_secs(1));
        n.shutdown(WAIT);
        assert_eq!(slack.requests().len(), 2);
        let lines = warnings.lines();
        assert_eq!(lines.len(), 2, "{lines:#?}");
        assert_eq!(
            lines[0],
            "warning: slack: failed to post the message about experiment #0 `small` to \
             `#experiments`: Slack answered `ok: false` (channel_not_found [token])"
        );
        assert!(
            lines[1].contains("the message about the end of the queue"),
            "{}",
            lines[1]
        );
        warnings.assert_clean();
    }

    #[test]
    fn no_answer_times_out_with_a_warning() {
        let slack = FakeSlack::start(Reply::Silent);
        let warnings = Warnings::default();
        let mut opts = options(Some(slack.url()), Some(TOKEN), &warnings);
        opts.request_timeout = Duration::from_millis(300);
        let mut n = Notifier::from_global_with(&global(CONFIG), opts)
            .unwrap()
            .unwrap();
        n.experiment_finished(&experiment(0, FAILED));
        n.shutdown(WAIT);
        assert_eq!(slack.requests().len(), 1);
        let lines = warnings.lines();
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert!(
            lines[0].ends_with(": no answer within 0.3 s"),
            "{}",
            lines[0]
        );
        warnings.assert_clean();
    }

    #[test]
    fn full_queue_drops_with_a_warning_and_shutdown_keeps_its_deadline() {
        let slack = FakeSlack::start(Reply::Silent);
        let warnings = Warnings::default();
        let mut opts = options(Some(slack.url()), Some(TOKEN), &warnings);
        opts.queue_capacity = 1;
        opts.request_timeout = Duration::from_secs(30);
        let mut n = Notifier::from_global_with(&global(CONFIG), opts)
            .unwrap()
            .unwrap();
        let start = Instant::now();
        for i in 0..3 {
            n.experiment_finished(&experiment(i, FAILED));
        }
        // The server never answers and a request may take 30 s: only a
        // caller that does not wait gets here quickly.
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "the caller never waits"
        );
        n.shutdown(Duration::from_millis(300));
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "shutdown keeps its deadline"
        );
        let lines = warnings.lines();
        assert!(
            lines
                .iter()
                .any(|l| l.contains("too many messages waiting; dropped the message")),
            "{lines:#?}"
        );
        assert!(
            lines
                .last()
                .unwrap()
                .contains("unsent message(s) after waiting 0.3 s"),
            "{lines:#?}"
        );
        warnings.assert_clean();
    }

    #[test]
    fn no_token_is_one_warning_and_nothing_is_sent() {
        let slack = FakeSlack::start(Reply::Ok);
        let warnings = Warnings::default();
        for token in [None, Some("  ")] {
            let opts = options(Some(slack.url()), token, &warnings);
            assert!(Notifier::from_global_with(&global(CONFIG), opts)
                .unwrap()
                .is_none());
        }
        let lines = warnings.lines();
        assert_eq!(lines.len(), 2, "one warning each time: {lines:#?}");
        assert!(
            lines[0].contains("`SLACK_BOT_TOKEN` is not"),
            "{}",
            lines[0]
        );
        std::thread::sleep(Duration::from_millis(100));
        assert!(slack.requests().is_empty());
    }

    #[test]
    fn options_never_print_the_token() {
        let warnings = Warnings::default();
        let opts = options(None, Some(TOKEN), &warnings);
        assert!(!format!("{opts:?}").contains(TOKEN));
        let n = Notifier::from_global_with(&global(CONFIG), opts)
            .unwrap()
            .unwrap();
        assert!(!format!("{n:?}").contains(TOKEN));
        n.shutdown(Duration::from_secs(1));
        assert_eq!(NotifierOptions::DEFAULT_QUEUE_CAPACITY, 64);
    }
}

#[cfg(not(feature = "slack"))]
#[test]
fn without_the_feature_a_configured_slack_is_one_warning() {
    let warnings = Warnings::default();
    let opts = options(
        Some("http://127.0.0.1:9/api".into()),
        Some(TOKEN),
        &warnings,
    );
    let config = global("slack: {channel: \"#experiments\"}\n");
    assert!(Notifier::from_global_with(&config, opts).unwrap().is_none());
    let lines = warnings.lines();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains("this build of cool-runner has no Slack support"));
    assert!(lines[0].contains("--features slack"));
    warnings.assert_clean();
}

#[test]
fn no_global_slack_is_silent() {
    let warnings = Warnings::default();
    let opts = options(None, None, &warnings);
    assert!(Notifier::from_global_with(&global("repeat: 1\n"), opts)
        .unwrap()
        .is_none());
    assert!(warnings.lines().is_empty());
}

#[test]
fn a_malformed_global_slack_is_bad_input() {
    let warnings = Warnings::default();
    let opts = options(None, Some(TOKEN), &warnings);
    let err = Notifier::from_global_with(&global("slack: {channel: \"#x\", each: yes}\n"), opts)
        .unwrap_err();
    assert_eq!(err, SlackConfigError::BadEach { found: "a string" });
    let top: cool_runner::error::Error = err.into();
    assert_eq!(top.exit_code(), cool_runner::error::exit::BAD_INPUT);
}

/// Through the real binary: the runner calls the notifier (issue 5).
mod end_to_end {
    use crate::test::Test;

    const FILE: &str = "Global:\n  slack: {channel: \"#experiments\"}\nYamlLog: log.yaml\n\
                        ---\nName: good\nModule: ./ok.sh\n---\nName: bad\nModule: ./fail.sh\n";

    fn test() -> Test {
        Test::new()
            .write_exe(
                "ok.sh",
                "#!/bin/sh\necho 'ACC: 0.5' > \"$COOL_RUNNER_RESULTS\"\n",
            )
            .write_exe("fail.sh", "#!/bin/sh\nexit 3\n")
            .write("e.yaml", FILE)
            .args(&["run", "--exp", "e.yaml"])
    }

    #[cfg(feature = "slack")]
    #[test]
    fn failing_run_posts_the_failure_and_the_summary() {
        use crate::fake_slack::{FakeSlack, Reply};
        let slack = FakeSlack::start(Reply::Ok);
        let ran = test()
            .env("SLACK_API_URL", &slack.url())
            .env("SLACK_BOT_TOKEN", super::TOKEN)
            .run()
            .status(1);
        let requests = slack.requests();
        assert_eq!(
            requests.len(),
            2,
            "the failure and the summary: {requests:?}"
        );
        assert!(
            requests[0].text().contains("*bad*"),
            "{}",
            requests[0].text()
        );
        assert!(
            requests[0].text().contains("failed"),
            "{}",
            requests[0].text()
        );
        assert!(
            requests[1].text().contains("1 done"),
            "{}",
            requests[1].text()
        );
        for r in &requests {
            assert_eq!(r.channel(), "#experiments");
            assert_eq!(
                r.header("authorization"),
                Some(&*format!("Bearer {}", super::TOKEN))
            );
        }
        assert!(!ran.stderr().contains(super::TOKEN));
        assert!(!ran.stdout().contains(super::TOKEN));
    }

    #[cfg(feature = "slack")]
    #[test]
    fn server_down_is_one_warning_and_changes_nothing() {
        // A port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let ran = test()
            .env("SLACK_API_URL", &format!("http://127.0.0.1:{port}/api"))
            .env("SLACK_BOT_TOKEN", super::TOKEN)
            .run()
            .status(1);
        let err = ran.stderr();
        assert!(err.contains("warning: slack: "), "{err}");
        assert!(!err.contains(super::TOKEN), "{err}");
        let log = std::fs::read_to_string(ran.dir.join("log.yaml")).unwrap();
        assert_eq!(
            log.matches("\n---\n").count() + 1,
            2,
            "both experiments logged"
        );
    }

    #[cfg(not(feature = "slack"))]
    #[test]
    fn build_without_slack_warns_once_and_runs() {
        let ran = test().env("SLACK_BOT_TOKEN", super::TOKEN).run().status(1);
        let err = ran.stderr();
        assert_eq!(err.matches("warning: slack").count(), 1, "{err}");
        assert!(!err.contains(super::TOKEN), "{err}");
    }
}
