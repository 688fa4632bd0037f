//! The notifier posting to the fake Slack server (feature `slack`).

use std::time::{Duration, Instant};

use super::{options, record, settings, Warnings, TOKEN};
use crate::notifier::dispatcher::{Notifier, NotifierOptions};
use crate::runner::Summary;
use fake_slack::{FakeSlack, Reply, Request};

#[path = "../../tests/integration/fake_slack.rs"]
#[allow(
    dead_code,
    reason = "shared with the end-to-end tests, which use all of it"
)]
mod fake_slack;

const FAILED: &str = "Name: small\nlr: 0.1\nREP: 1\nHOST: gpu1\nLOSS: 7.5\n\
                      TIME_ELAPSED: 12.34\nSTATUS: failed\nEXIT_CODE: 2\n";
const DONE_A: &str = "Name: big\nREP: 0\nACC: 0.9\nLOSS: 0.25\nTIME_ELAPSED: 60\nSTATUS: done\n";
const DONE_B: &str = "Name: big\nREP: 1\nACC: 0.7\nLOSS: 0.5\nTIME_ELAPSED: 61\nSTATUS: done\n";

/// The runner's summary for these counts, after `seconds`.
fn summary(done: usize, failed: usize, interrupted: usize, seconds: u64) -> Summary {
    Summary {
        done,
        failed,
        interrupted,
        elapsed: Duration::from_secs(seconds),
        ..Summary::default()
    }
}

const CONFIG: &str = "repeat: 1\nslack: {channel: \"#experiments\"}\n";
const WAIT: Duration = Duration::from_secs(10);

fn notifier(config: &str, api_url: String, warnings: &Warnings) -> Notifier {
    Notifier::start(
        settings(config).as_ref(),
        options(Some(api_url), Some(TOKEN), warnings),
    )
    .expect("a notifier")
}

#[test]
fn failure_is_posted_at_once_with_the_token_and_the_channel() {
    let slack = FakeSlack::start(Reply::Ok);
    let warnings = Warnings::default();
    let mut n = notifier(CONFIG, slack.url(), &warnings);
    n.experiment_finished(&record(0, DONE_A));
    n.experiment_finished(&record(1, FAILED));
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
    n.experiment_finished(&record(0, DONE_A));
    n.experiment_finished(&record(1, DONE_B));
    n.experiment_finished(&record(2, FAILED));
    n.experiment_finished(&record(
        3,
        "Name: c\nSTATUS: interrupted\nTIME_ELAPSED: 1\n",
    ));
    n.queue_finished(&summary(2, 1, 1, 125));
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
    n.experiment_finished(&record(0, DONE_A));
    assert_eq!(slack.wait_for(1, WAIT).len(), 1, "posted at once");
    n.experiment_finished(&record(1, DONE_B));
    n.experiment_finished(&record(2, FAILED));
    n.queue_finished(&summary(2, 1, 0, 3));
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
    n.experiment_finished(&record(0, FAILED));
    n.shutdown(WAIT);
    assert_eq!(slack.requests().len(), 1);
    assert_eq!(warnings.lines(), Vec::<String>::new());
}

#[test]
fn server_down_is_one_warning_per_message() {
    let warnings = Warnings::default();
    let mut n = notifier(CONFIG, FakeSlack::down_url(), &warnings);
    let start = Instant::now();
    n.experiment_finished(&record(4, FAILED));
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
    n.experiment_finished(&record(0, FAILED));
    n.queue_finished(&summary(0, 1, 0, 1));
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
fn a_huge_reply_is_cut_off_not_buffered() {
    // 2 GB announced: reading stops after 1 MiB, with one warning.
    let slack = FakeSlack::start(Reply::Huge(2_000_000_000));
    let warnings = Warnings::default();
    let mut opts = options(Some(slack.url()), Some(TOKEN), &warnings);
    opts.request_timeout = Duration::from_secs(60);
    let mut n = Notifier::start(settings(CONFIG).as_ref(), opts).unwrap();
    let start = Instant::now();
    n.experiment_finished(&record(0, FAILED));
    n.shutdown(Duration::from_secs(60));
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    let lines = warnings.lines();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].contains("larger than 1048576 bytes"),
        "{}",
        lines[0]
    );
    warnings.assert_clean();
}

#[test]
fn no_answer_times_out_with_a_warning() {
    let slack = FakeSlack::start(Reply::Silent);
    let warnings = Warnings::default();
    let mut opts = options(Some(slack.url()), Some(TOKEN), &warnings);
    opts.request_timeout = Duration::from_millis(300);
    let mut n = Notifier::start(settings(CONFIG).as_ref(), opts).unwrap();
    n.experiment_finished(&record(0, FAILED));
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
    let mut n = Notifier::start(settings(CONFIG).as_ref(), opts).unwrap();
    let start = Instant::now();
    for i in 0..3 {
        n.experiment_finished(&record(i, FAILED));
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
        assert!(Notifier::start(settings(CONFIG).as_ref(), opts).is_none());
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
    let n = Notifier::start(settings(CONFIG).as_ref(), opts).unwrap();
    assert!(!format!("{n:?}").contains(TOKEN));
    n.shutdown(Duration::from_secs(1));
    assert_eq!(NotifierOptions::DEFAULT_QUEUE_CAPACITY, 64);
}
