//! The compact Slack mrkdwn text about a finished experiment (a `Record`)
//! and about the end of the queue (the runner's `Summary`). No network
//! here, so the layout is tested without the `slack` feature.

use std::fmt::Write as _;
use std::time::Duration;

use yaml_serde::Value;

use crate::model::keys;
use crate::runner::Summary;
use crate::yaml_log::{Record, Status};

/// At most this many results per message, so one chatty module cannot
/// produce a wall of text.
const MAX_RESULTS: usize = 12;
/// A result value longer than this (a string, a list) is cut.
const MAX_VALUE_CHARS: usize = 60;

fn emoji(status: Status) -> &'static str {
    match status {
        Status::Done => ":white_check_mark:",
        Status::Failed => ":x:",
        Status::Interrupted => ":double_vertical_bar:",
        Status::Timeout => ":hourglass:",
        Status::Skipped => ":fast_forward:",
    }
}

/// The experiment's `Name` as written (a number counts), if it has one.
fn name(record: &Record) -> Option<String> {
    match record.experiment.get(keys::NAME)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn host(record: &Record) -> Option<&str> {
    record.experiment.get(keys::HOST).and_then(Value::as_str)
}

/// The module's UPPER-CASE results in the order it wrote them, without the
/// runner's own keys.
fn results(record: &Record) -> impl Iterator<Item = (&str, &Value)> {
    record.results.iter().filter_map(|(key, value)| {
        let key = key.as_str()?;
        (keys::is_upper_case(key) && !keys::is_runner_written(key)).then_some((key, value))
    })
}

/// The message about a finished experiment: a header line, then its
/// results (and the runner's `ERROR`, if any) on one line.
///
/// ```text
/// :x: *train-small* #3 · REP 1 — *failed* (exit 2) after 12.3 s on `gpu1`
/// ACC 0.913 · LOSS 0.25
/// ```
pub(crate) fn experiment_text(record: &Record) -> String {
    let mut text = format!("{} {}", emoji(record.status), label(record));
    let _ = write!(text, " — *{}*", record.status.as_str());
    if let (Status::Failed, Some(code)) = (record.status, record.exit_code) {
        let _ = write!(text, " (exit {code})");
    }
    let _ = write!(
        text,
        " after {}",
        format_duration(record.elapsed.as_secs_f64())
    );
    if let Some(host) = host(record) {
        let _ = write!(text, " on {}", code(host));
    }
    let all: Vec<(&str, &Value)> = results(record).collect();
    let mut shown: Vec<String> = all
        .iter()
        .take(MAX_RESULTS)
        .map(|(key, value)| format!("{} {}", escape(key), format_value(value)))
        .collect();
    if all.len() > MAX_RESULTS {
        shown.push(format!("… {} more", all.len() - MAX_RESULTS));
    }
    if let Some(error) = &record.error {
        shown.push(format!(
            "{} {}",
            keys::ERROR,
            format_value(&Value::from(error.as_str()))
        ));
    }
    if !shown.is_empty() {
        text.push('\n');
        text.push_str(&shown.join(" · "));
    }
    text
}

/// `*name* #3 · REP 1`, or `experiment #3` without a name.
fn label(record: &Record) -> String {
    let mut label = match name(record) {
        Some(name) => format!("*{}* #{}", escape(&name), record.index),
        None => format!("experiment #{}", record.index),
    };
    if let Some(rep) = record.experiment.get(keys::REP).and_then(Value::as_i64) {
        let _ = write!(label, " · REP {rep}");
    }
    label
}

/// How a warning about this experiment's message names it.
pub(crate) fn short_label(record: &Record) -> String {
    match name(record) {
        Some(name) => format!("experiment #{} `{name}`", record.index),
        None => format!("experiment #{}", record.index),
    }
}

/// The extremes of one numeric result over the queue.
#[derive(Debug, Clone, PartialEq)]
struct Extremes {
    key: String,
    /// The largest value and the experiment that reached it.
    max: (f64, String),
    /// The smallest value and the experiment that reached it.
    min: (f64, String),
}

/// What the queue-end message says beyond the runner's counts: the largest
/// and smallest value of every numeric UPPER-CASE result, and the host.
/// The notifier folds in every experiment it is told about.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Highlights {
    /// One entry per numeric result key, in the order first seen.
    extremes: Vec<Extremes>,
    /// The last `HOST` seen.
    host: Option<String>,
}

impl Highlights {
    /// Fold in one finished experiment's numeric results.
    pub(crate) fn add(&mut self, record: &Record) {
        if let Some(host) = host(record) {
            self.host = Some(host.to_owned());
        }
        for (key, value) in results(record) {
            let Some(x) = value.as_f64().filter(|x| x.is_finite()) else {
                continue;
            };
            let who = label(record);
            match self.extremes.iter_mut().find(|e| e.key == key) {
                Some(e) => {
                    if x > e.max.0 {
                        e.max = (x, who.clone());
                    }
                    if x < e.min.0 {
                        e.min = (x, who);
                    }
                }
                None => self.extremes.push(Extremes {
                    key: key.to_owned(),
                    max: (x, who.clone()),
                    min: (x, who),
                }),
            }
        }
    }
}

/// The message about the end of the queue: a header line with the runner's
/// counts (cached and skipped experiments too) and the time, then one line
/// per numeric result with its largest and smallest value.
pub(crate) fn queue_text(summary: &Summary, highlights: &Highlights) -> String {
    let bad = summary.failed + summary.timeout > 0;
    let finished =
        summary.done + summary.failed + summary.interrupted + summary.timeout + summary.cached;
    let mut text = format!(
        "{} *Queue finished*: {finished} experiment{} in {} — {} done, {} failed, {} interrupted",
        if bad { ":warning:" } else { ":checkered_flag:" },
        if finished == 1 { "" } else { "s" },
        format_duration(summary.elapsed.as_secs_f64()),
        summary.done,
        summary.failed,
        summary.interrupted,
    );
    for (count, what) in [
        (summary.timeout, "timeout"),
        (summary.cached, "cached"),
        (summary.skipped, "skipped"),
        (summary.pending, "left in the queue"),
    ] {
        if count > 0 {
            let _ = write!(text, ", {count} {what}");
        }
    }
    if summary.failed_fast {
        text.push_str(" (stopped by `--fail-fast`)");
    } else if summary.stopped {
        text.push_str(" (stopped)");
    }
    if let Some(host) = &highlights.host {
        let _ = write!(text, " on {}", code(host));
    }
    for e in highlights.extremes.iter().take(MAX_RESULTS) {
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
    if highlights.extremes.len() > MAX_RESULTS {
        let _ = write!(
            text,
            "\n… {} more results",
            highlights.extremes.len() - MAX_RESULTS
        );
    }
    text
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
    use std::time::Duration;

    use super::{experiment_text, format_duration, format_float, queue_text, Highlights};
    use crate::notifier::tests::record;
    use crate::runner::Summary;

    #[test]
    fn an_experiment_message() {
        let mut r = record(
            3,
            "Name: small\nlr: 0.1\nREP: 1\nGLOBAL_REP: 0\nRND_IDX: 123456\nHOST: gpu1\n\
             ACC: 0.9132\nLOSS: 0.25\nTIME_ELAPSED: 12.34\nSTATUS: failed\nEXIT_CODE: 2\n\
             STARTED_AT: x\nFINISHED_AT: y\n_helper: 1\nMixed_Case: 2\n",
        );
        assert_eq!(
            experiment_text(&r),
            ":x: *small* #3 · REP 1 — *failed* (exit 2) after 12.3 s on `gpu1`\nACC 0.9132 · LOSS 0.25"
        );
        r.error = Some("invalid results: <oops>".to_owned());
        assert!(experiment_text(&r).ends_with("LOSS 0.25 · ERROR invalid results: &lt;oops&gt;"));
    }

    #[test]
    fn unnamed_and_escaped() {
        let r = record(0, "STATUS: done\nTIME_ELAPSED: 75\nNOTE: a<b & c\n");
        assert_eq!(
            experiment_text(&r),
            ":white_check_mark: experiment #0 — *done* after 1 min 15 s\nNOTE a&lt;b &amp; c"
        );
    }

    #[test]
    fn summary_counts_and_extremes() {
        let mut highlights = Highlights::default();
        highlights.add(&record(
            0,
            "Name: a\nSTATUS: done\nACC: 0.5\nLOSS: 2\nHOST: h\n",
        ));
        highlights.add(&record(
            1,
            "Name: b\nREP: 1\nSTATUS: done\nACC: 0.9\nLOSS: 1\n",
        ));
        highlights.add(&record(2, "Name: c\nSTATUS: failed\nWHY: oom\n"));
        highlights.add(&record(3, "Name: d\nSTATUS: interrupted\nACC: .nan\n"));
        let mut summary = Summary {
            done: 2,
            failed: 1,
            interrupted: 1,
            elapsed: Duration::from_secs(7322),
            ..Summary::default()
        };
        assert_eq!(
            queue_text(&summary, &highlights),
            ":warning: *Queue finished*: 4 experiments in 2 h 02 min — 2 done, 1 failed, 1 interrupted on `h`\n\
             ACC: max 0.9 (*b* #1 · REP 1), min 0.5 (*a* #0)\n\
             LOSS: max 2 (*a* #0), min 1 (*b* #1 · REP 1)"
        );
        summary.cached = 3;
        summary.skipped = 1;
        summary.timeout = 1;
        summary.pending = 2;
        summary.failed_fast = true;
        let text = queue_text(&summary, &Highlights::default());
        assert_eq!(
            text,
            ":warning: *Queue finished*: 8 experiments in 2 h 02 min — 2 done, 1 failed, \
             1 interrupted, 1 timeout, 3 cached, 1 skipped, 2 left in the queue \
             (stopped by `--fail-fast`)"
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
