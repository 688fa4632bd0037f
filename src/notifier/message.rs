//! What the notifier is told (a finished experiment, the end of the queue)
//! and the compact Slack mrkdwn text made from it. No network here, so the
//! layout is tested without the `slack` feature.

use std::fmt::Write as _;
use std::time::Duration;

use yaml_serde::{Mapping, Value};

/// Keys the runner writes into a logged experiment (SPEC §1, §5). They are
/// UPPER-CASE but are not results, so messages show them in their own places.
const RUNNER_KEYS: [&str; 9] = [
    "REP",
    "GLOBAL_REP",
    "RND_IDX",
    "HOST",
    "TIME_ELAPSED",
    "STATUS",
    "EXIT_CODE",
    "STARTED_AT",
    "FINISHED_AT",
];

/// At most this many results per message, so one chatty module cannot
/// produce a wall of text.
const MAX_RESULTS: usize = 12;
/// A result value longer than this (a string, a list) is cut.
const MAX_VALUE_CHARS: usize = 60;

/// How an experiment ended (`STATUS` in the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExperimentStatus {
    Done,
    Failed,
    Interrupted,
    Timeout,
}

impl ExperimentStatus {
    /// The word written as `STATUS` in the log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
            Self::Timeout => "timeout",
        }
    }

    /// Read a `STATUS` word; `None` for anything else.
    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "done" => Some(Self::Done),
            "failed" => Some(Self::Failed),
            "interrupted" => Some(Self::Interrupted),
            "timeout" => Some(Self::Timeout),
            _ => None,
        }
    }

    /// Whether the researcher hears about it at once, without `each: true`.
    /// A timeout is a failure too; an interruption was the user's own doing.
    pub fn is_failure(self) -> bool {
        matches!(self, Self::Failed | Self::Timeout)
    }

    fn emoji(self) -> &'static str {
        match self {
            Self::Done => ":white_check_mark:",
            Self::Failed => ":x:",
            Self::Interrupted => ":double_vertical_bar:",
            Self::Timeout => ":hourglass:",
        }
    }
}

/// One finished experiment, as the notifier needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedExperiment {
    /// Index in the expanded queue (what `--pick` counts).
    pub index: usize,
    /// `Name`, when it has one.
    pub name: Option<String>,
    /// `REP`.
    pub rep: Option<i64>,
    /// `HOST`.
    pub host: Option<String>,
    pub status: ExperimentStatus,
    /// `EXIT_CODE`, when the module exited by itself.
    pub exit_code: Option<i64>,
    /// `TIME_ELAPSED`, in seconds.
    pub time_elapsed: f64,
    /// The UPPER-CASE results in the order the module wrote them, without
    /// the runner's own keys.
    pub results: Vec<(String, Value)>,
}

impl FinishedExperiment {
    /// Read everything from the document the runner logs for a finished
    /// experiment (SPEC §5: the expanded experiment, the results,
    /// `TIME_ELAPSED`, `STATUS`, `EXIT_CODE`, ...). A missing or unknown
    /// `STATUS` counts as `failed`, so that the researcher hears about it.
    pub fn from_log_document(index: usize, document: &Mapping) -> Self {
        let string = |key: &str| match document.get(key) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::Bool(b)) => Some(b.to_string()),
            _ => None,
        };
        let int = |key: &str| document.get(key).and_then(Value::as_i64);
        let status = document
            .get("STATUS")
            .and_then(Value::as_str)
            .and_then(ExperimentStatus::parse)
            .unwrap_or(ExperimentStatus::Failed);
        let results = document
            .iter()
            .filter_map(|(key, value)| {
                let key = key.as_str()?;
                (is_result_key(key) && !RUNNER_KEYS.contains(&key))
                    .then(|| (key.to_owned(), value.clone()))
            })
            .collect();
        Self {
            index,
            name: string("Name"),
            rep: int("REP"),
            host: string("HOST"),
            status,
            exit_code: int("EXIT_CODE"),
            time_elapsed: document
                .get("TIME_ELAPSED")
                .and_then(Value::as_f64)
                .unwrap_or(0.0),
            results,
        }
    }

    /// The message: a header line, then the results on one line.
    ///
    /// ```text
    /// :x: *train-small* #3 · REP 1 — *failed* (exit 2) after 12.3 s on `gpu1`
    /// ACC 0.913 · LOSS 0.25
    /// ```
    pub fn to_mrkdwn(&self) -> String {
        let mut text = format!("{} {}", self.status.emoji(), self.label());
        let _ = write!(text, " — *{}*", self.status.as_str());
        if let (ExperimentStatus::Failed, Some(code)) = (self.status, self.exit_code) {
            let _ = write!(text, " (exit {code})");
        }
        let _ = write!(text, " after {}", format_duration(self.time_elapsed));
        if let Some(host) = &self.host {
            let _ = write!(text, " on {}", code(host));
        }
        if !self.results.is_empty() {
            text.push('\n');
            let shown: Vec<String> = self
                .results
                .iter()
                .take(MAX_RESULTS)
                .map(|(key, value)| format!("{} {}", escape(key), format_value(value)))
                .collect();
            text.push_str(&shown.join(" · "));
            if self.results.len() > MAX_RESULTS {
                let _ = write!(text, " · … {} more", self.results.len() - MAX_RESULTS);
            }
        }
        text
    }

    /// `*name* #3 · REP 1`, or `experiment #3` without a name.
    fn label(&self) -> String {
        let mut label = match &self.name {
            Some(name) => format!("*{}* #{}", escape(name), self.index),
            None => format!("experiment #{}", self.index),
        };
        if let Some(rep) = self.rep {
            let _ = write!(label, " · REP {rep}");
        }
        label
    }

    /// How a warning about this experiment's message names it.
    pub(crate) fn short_label(&self) -> String {
        match &self.name {
            Some(name) => format!("experiment #{} `{name}`", self.index),
            None => format!("experiment #{}", self.index),
        }
    }
}

/// The extremes of one numeric result over the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Extremes {
    pub key: String,
    /// The largest value and the experiment that reached it.
    pub max: (f64, String),
    /// The smallest value and the experiment that reached it.
    pub min: (f64, String),
}

/// The end of the queue: counts, total time, and the largest and smallest
/// value of every numeric UPPER-CASE result. The notifier fills it from the
/// experiments it is told about; only the total time comes from the runner.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueSummary {
    pub done: usize,
    pub failed: usize,
    pub interrupted: usize,
    pub timeout: usize,
    /// Wall-clock time of the whole run, in seconds.
    pub total_time: f64,
    /// One entry per numeric result key, in the order first seen.
    pub extremes: Vec<Extremes>,
    /// The last `HOST` seen.
    pub host: Option<String>,
}

impl QueueSummary {
    /// Count one finished experiment and fold in its numeric results.
    pub fn add(&mut self, experiment: &FinishedExperiment) {
        match experiment.status {
            ExperimentStatus::Done => self.done += 1,
            ExperimentStatus::Failed => self.failed += 1,
            ExperimentStatus::Interrupted => self.interrupted += 1,
            ExperimentStatus::Timeout => self.timeout += 1,
        }
        if experiment.host.is_some() {
            self.host.clone_from(&experiment.host);
        }
        for (key, value) in &experiment.results {
            let Some(x) = value.as_f64().filter(|x| x.is_finite()) else {
                continue;
            };
            let who = experiment.label();
            match self.extremes.iter_mut().find(|e| e.key == *key) {
                Some(e) => {
                    if x > e.max.0 {
                        e.max = (x, who.clone());
                    }
                    if x < e.min.0 {
                        e.min = (x, who);
                    }
                }
                None => self.extremes.push(Extremes {
                    key: key.clone(),
                    max: (x, who.clone()),
                    min: (x, who),
                }),
            }
        }
    }

    /// How many experiments finished, whatever their status.
    pub fn finished(&self) -> usize {
        self.done + self.failed + self.interrupted + self.timeout
    }

    /// The message: a header line with the counts and the time, then one
    /// line per numeric result with its largest and smallest value.
    pub fn to_mrkdwn(&self) -> String {
        let bad = self.failed + self.timeout > 0;
        let mut text = format!(
            "{} *Queue finished*: {} experiment{} in {} — {} done, {} failed, {} interrupted",
            if bad { ":warning:" } else { ":checkered_flag:" },
            self.finished(),
            if self.finished() == 1 { "" } else { "s" },
            format_duration(self.total_time),
            self.done,
            self.failed,
            self.interrupted,
        );
        if self.timeout > 0 {
            let _ = write!(text, ", {} timeout", self.timeout);
        }
        if let Some(host) = &self.host {
            let _ = write!(text, " on {}", code(host));
        }
        for e in self.extremes.iter().take(MAX_RESULTS) {
            let _ = write!(
                text,
                "\n{}: max {} ({}), min {} ({})",
                escape(&e.key),
                format_float(e.max.0),
                e.max.1,
                format_float(e.min.0),
                e.min.1,
            );
        }
        if self.extremes.len() > MAX_RESULTS {
            let _ = write!(
                text,
                "\n… {} more results",
                self.extremes.len() - MAX_RESULTS
            );
        }
        text
    }
}

/// UPPER-CASE: letters, digits and `_`, starting with a letter, with no
/// lower-case letter.
fn is_result_key(key: &str) -> bool {
    key.starts_with(|c: char| c.is_ascii_uppercase())
        && key
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Slack's mrkdwn needs `&`, `<` and `>` escaped, and nothing else.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Inline code (a back-tick inside would end it early).
fn code(text: &str) -> String {
    format!("`{}`", escape(&text.replace('`', "'")))
}

fn format_value(value: &Value) -> String {
    let text = match value {
        Value::Number(n) => match n.as_f64() {
            Some(x) if !(n.is_i64() || n.is_u64()) => format_float(x),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        other => serde_json::to_string(other).unwrap_or_else(|_| "?".to_owned()),
    };
    let text = if text.chars().count() > MAX_VALUE_CHARS {
        let cut: String = text.chars().take(MAX_VALUE_CHARS - 1).collect();
        format!("{cut}…")
    } else {
        text
    };
    escape(&text)
}

/// Four significant digits, plain or scientific as fits: `0.9132`, `12.35`,
/// `1.235e-5`, `3`.
fn format_float(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return x.to_string();
    }
    let magnitude = x.abs().log10().floor() as i32;
    if (-3..6).contains(&magnitude) {
        let decimals = (3 - magnitude).max(0) as usize;
        let text = format!("{x:.decimals$}");
        if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            text
        }
    } else {
        format!("{x:.3e}")
    }
}

/// `0.4 s`, `12.3 s`, `4 min 05 s`, `2 h 03 min`.
pub(crate) fn format_duration(seconds: f64) -> String {
    let seconds = if seconds.is_finite() {
        seconds.max(0.0)
    } else {
        0.0
    };
    if seconds < 60.0 {
        return format!("{seconds:.1} s");
    }
    let whole = Duration::from_secs_f64(seconds).as_secs();
    if whole < 3600 {
        format!("{} min {:02} s", whole / 60, whole % 60)
    } else {
        format!("{} h {:02} min", whole / 3600, (whole % 3600) / 60)
    }
}

#[cfg(test)]
mod tests {
    use yaml_serde::Mapping;

    use super::{
        format_duration, format_float, ExperimentStatus, FinishedExperiment, QueueSummary,
    };

    fn experiment(index: usize, yaml: &str) -> FinishedExperiment {
        let doc: Mapping = yaml_serde::from_str(yaml).unwrap();
        FinishedExperiment::from_log_document(index, &doc)
    }

    #[test]
    fn reads_a_log_document() {
        let e = experiment(
            3,
            "Name: small\nlr: 0.1\nREP: 1\nGLOBAL_REP: 0\nRND_IDX: 123456\nHOST: gpu1\n\
             ACC: 0.9132\nLOSS: 0.25\nTIME_ELAPSED: 12.34\nSTATUS: failed\nEXIT_CODE: 2\n\
             STARTED_AT: x\nFINISHED_AT: y\n_helper: 1\nMixed_Case: 2\n",
        );
        assert_eq!(e.index, 3);
        assert_eq!(e.name.as_deref(), Some("small"));
        assert_eq!(e.rep, Some(1));
        assert_eq!(e.status, ExperimentStatus::Failed);
        assert_eq!(e.exit_code, Some(2));
        let keys: Vec<&str> = e.results.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["ACC", "LOSS"]);
        assert_eq!(
            e.to_mrkdwn(),
            ":x: *small* #3 · REP 1 — *failed* (exit 2) after 12.3 s on `gpu1`\nACC 0.9132 · LOSS 0.25"
        );
    }

    #[test]
    fn unnamed_and_escaped() {
        let e = experiment(0, "STATUS: done\nTIME_ELAPSED: 75\nNOTE: a<b & c\n");
        assert_eq!(
            e.to_mrkdwn(),
            ":white_check_mark: experiment #0 — *done* after 1 min 15 s\nNOTE a&lt;b &amp; c"
        );
        let e = experiment(1, "Name: x\nTIME_ELAPSED: 1\n");
        assert_eq!(
            e.status,
            ExperimentStatus::Failed,
            "no STATUS counts as failed"
        );
    }

    #[test]
    fn summary_counts_and_extremes() {
        let mut summary = QueueSummary::default();
        summary.add(&experiment(
            0,
            "Name: a\nSTATUS: done\nACC: 0.5\nLOSS: 2\nHOST: h\n",
        ));
        summary.add(&experiment(
            1,
            "Name: b\nREP: 1\nSTATUS: done\nACC: 0.9\nLOSS: 1\n",
        ));
        summary.add(&experiment(2, "Name: c\nSTATUS: failed\nWHY: oom\n"));
        summary.add(&experiment(3, "Name: d\nSTATUS: interrupted\nACC: .nan\n"));
        summary.total_time = 7322.0;
        assert_eq!(summary.finished(), 4);
        assert_eq!(
            summary.to_mrkdwn(),
            ":warning: *Queue finished*: 4 experiments in 2 h 02 min — 2 done, 1 failed, 1 interrupted on `h`\n\
             ACC: max 0.9 (*b* #1 · REP 1), min 0.5 (*a* #0)\n\
             LOSS: max 2 (*a* #0), min 1 (*b* #1 · REP 1)"
        );
    }

    #[test]
    fn numbers_and_durations() {
        assert_eq!(format_float(0.913_245), "0.9132");
        assert_eq!(format_float(12.3456), "12.35");
        assert_eq!(format_float(0.000_012_345_6), "1.235e-5");
        assert_eq!(format_float(3.0), "3");
        assert_eq!(format_float(1234.6), "1235");
        assert_eq!(format_duration(0.42), "0.4 s");
        assert_eq!(format_duration(3599.0), "59 min 59 s");
        assert_eq!(format_duration(-1.0), "0.0 s");
    }
}
