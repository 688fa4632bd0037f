//! The notifier against the fake Slack server (`tests/integration/fake_slack.rs`,
//! shared with the end-to-end tests), with records built from YAML text.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use yaml_serde::{Mapping, Value};

use super::dispatcher::{Notifier, NotifierOptions};
use super::settings::SlackSettings;
use crate::model::keys;
use crate::yaml_log::{Record, Status};

/// A finished experiment from a log-like document: `STATUS`, `EXIT_CODE`
/// and `TIME_ELAPSED` become the record's fields, the other UPPER-CASE keys
/// that the runner does not write its results, the rest the experiment.
pub(super) fn record(index: usize, yaml: &str) -> Record {
    let document: Mapping = yaml_serde::from_str(yaml).unwrap();
    let (mut experiment, mut results) = (Mapping::new(), Mapping::new());
    for (key, value) in &document {
        let text = key.as_str().unwrap_or_default();
        if keys::is_upper_case(text) && !keys::is_runner_written(text) {
            results.insert(key.clone(), value.clone());
        } else if !keys::RECORD_KEYS.contains(&text) {
            experiment.insert(key.clone(), value.clone());
        }
    }
    let status = match document.get(keys::STATUS).and_then(Value::as_str) {
        Some("done") => Status::Done,
        Some("interrupted") => Status::Interrupted,
        Some("timeout") => Status::Timeout,
        _ => Status::Failed,
    };
    let elapsed = document.get(keys::TIME_ELAPSED).and_then(Value::as_f64);
    let now = chrono::Local::now();
    Record {
        index,
        name: crate::model::name_of(&experiment),
        experiment,
        results,
        status,
        exit_code: document
            .get(keys::EXIT_CODE)
            .and_then(Value::as_i64)
            .map(|c| c as i32),
        signal: None,
        started_at: now,
        finished_at: now,
        elapsed: Duration::from_secs_f64(elapsed.unwrap_or(0.0)),
        run_dir: None,
        error: None,
        stderr_tail: None,
        scheduler: Mapping::new(),
        log: None,
    }
}

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

fn settings(yaml: &str) -> Option<SlackSettings> {
    let global: Mapping = yaml_serde::from_str(yaml).unwrap();
    SlackSettings::from_value(global.get("slack")).expect("valid Global.slack")
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
    let settings = self::settings("slack: {channel: \"#experiments\"}\n");
    assert!(Notifier::start(settings.as_ref(), opts).is_none());
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
    assert!(Notifier::start(settings("repeat: 1\n").as_ref(), opts).is_none());
    assert!(warnings.lines().is_empty());
}

#[cfg(feature = "slack")]
#[path = "tests_slack.rs"]
mod with_feature;
