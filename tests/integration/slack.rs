//! Slack notifications through the real binary, against the fake Slack
//! server. The notifier's own tests (message texts, warnings, timeouts, a
//! full queue) are unit tests in `src/notifier/tests.rs`, which share the
//! fake server.

/// A token that must never show up in any output.
const TOKEN: &str = "xoxb-test-0123456789-SECRET";

/// The runner calls the notifier (issue 5).
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
    fn the_summary_counts_cached_experiments() {
        use crate::fake_slack::{FakeSlack, Reply, Request};
        let slack = FakeSlack::start(Reply::Ok);
        let test = test()
            .env("SLACK_API_URL", &slack.url())
            .env("SLACK_BOT_TOKEN", super::TOKEN);
        for _ in 0..2 {
            let out = test.command().output().unwrap();
            assert_eq!(out.status.code(), Some(1), "{out:?}");
        }
        let requests = slack.requests();
        let texts: Vec<&str> = requests.iter().map(Request::text).collect();
        assert_eq!(
            texts.len(),
            4,
            "a failure and a summary per run: {texts:#?}"
        );
        assert!(texts[1].contains("2 experiments in"), "{}", texts[1]);
        assert!(
            texts[1].contains("— 1 done, 1 failed, 0 interrupted on"),
            "{}",
            texts[1]
        );
        // The second run takes `good` from the store: it is counted, not run.
        assert!(texts[2].contains("*bad*"), "{}", texts[2]);
        assert!(texts[3].contains("2 experiments in"), "{}", texts[3]);
        assert!(
            texts[3].contains("— 0 done, 1 failed, 0 interrupted, 1 cached"),
            "{}",
            texts[3]
        );
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
