//! What people see: a live line (done/total, failures, the running
//! experiment, an ETA) on a terminal, plain lines otherwise. All of it goes
//! to stderr; module output is printed above the live line.

use std::fmt::Write as _;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::events::{Cached, Observer, Started, Summary};
use crate::executor::{OutputSink, Stream, Terminal};
use crate::queue::QueueReport;
use crate::yaml_log::{Record, Status};

pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    finished: usize,
    failed: usize,
    /// Names of the running experiments, in start order.
    running: Vec<String>,
    /// Total known so far: finished + running + pending.
    total: usize,
}

impl Progress {
    /// A live line when `live` (stderr is a terminal), plain lines otherwise.
    pub(crate) fn new(live: bool, pending: usize) -> Self {
        let bar = live.then(|| {
            let bar = ProgressBar::with_draw_target(
                Some(pending as u64),
                ProgressDrawTarget::stderr_with_hz(10),
            );
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{pos}/{len}] {msg} · {elapsed} elapsed · ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_message("starting");
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self {
            bar,
            finished: 0,
            failed: 0,
            running: Vec::new(),
            total: pending,
        }
    }

    /// Where module output should go so that it does not garble the line.
    pub(crate) fn sink(&self) -> Arc<dyn OutputSink> {
        match &self.bar {
            Some(bar) => Arc::new(Suspending(bar.clone())),
            None => Arc::new(Terminal),
        }
    }

    fn line(&self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.println(text);
        } else {
            // One `write` per line (stderr is unbuffered).
            let mut line = String::with_capacity(text.len() + 1);
            line.push_str(text);
            line.push('\n');
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
    }

    /// `` `a` `` or `` 2: `a`, `b` `` (at most three names).
    fn running_names(&self) -> String {
        let names: Vec<String> = self
            .running
            .iter()
            .take(3)
            .map(|n| format!("`{n}`"))
            .collect();
        let more = if self.running.len() > 3 { ", ..." } else { "" };
        if self.running.len() > 1 {
            format!("{}: {}{more}", self.running.len(), names.join(", "))
        } else {
            names.join(", ")
        }
    }

    fn position(&self) -> String {
        format!(
            "[{}/{}]",
            self.finished + 1,
            self.total.max(self.finished + 1)
        )
    }
}

struct Suspending(ProgressBar);

impl OutputSink for Suspending {
    fn write(&self, stream: Stream, bytes: &[u8]) {
        self.0.suspend(|| Terminal.write(stream, bytes));
    }
}

fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{s:.1} s")
    } else {
        let s = s.round() as u64;
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    }
}

impl Observer for Progress {
    fn experiment_started(&mut self, started: &Started<'_>) {
        self.total = self.finished + 1 + started.pending;
        match &self.bar {
            Some(bar) => {
                bar.set_length(self.total as u64);
                bar.set_position(self.finished as u64);
                let failed = if self.failed > 0 {
                    format!(" · {} failed", self.failed)
                } else {
                    String::new()
                };
                self.running.push(started.name.to_owned());
                bar.set_message(format!("running {}{failed}", self.running_names()));
            }
            None => {
                let slot = if started.slot > 0 || started.running > 1 {
                    format!(", slot {}", started.slot)
                } else {
                    String::new()
                };
                self.line(&format!(
                    "{} start `{}` (pid {}{slot}) in {}",
                    self.position(),
                    started.name,
                    started.id,
                    started.run_dir.display()
                ));
            }
        }
    }

    fn experiment_finished(&mut self, record: &Record, _document: &yaml_serde::Mapping) {
        if let Some(at) = self.running.iter().position(|n| *n == record.name) {
            self.running.remove(at);
            if let Some(bar) = &self.bar {
                if self.running.is_empty() {
                    bar.set_message("waiting");
                } else {
                    bar.set_message(format!("running {}", self.running_names()));
                }
            }
        }
        let mut text = format!(
            "{} {} `{}` in {}",
            self.position(),
            record.status,
            record.name,
            seconds(record.elapsed)
        );
        match (record.status, &record.error, record.exit_code) {
            (Status::Done, _, _) => {}
            (_, Some(error), _) => {
                let _ = write!(text, ": {error}");
            }
            (Status::Failed, None, Some(code)) => {
                let _ = write!(text, ": exit code {code}");
            }
            _ => {}
        }
        if record.status != Status::Done {
            if let Some(dir) = &record.run_dir {
                let _ = write!(text, " (output in {})", dir.display());
            }
        }
        self.finished += 1;
        self.total = self.total.max(self.finished);
        if record.status.is_failure() {
            self.failed += 1;
        }
        self.line(&text);
        if let Some(bar) = &self.bar {
            bar.set_position(self.finished as u64);
        }
    }

    fn experiment_cached(&mut self, cached: &Cached<'_>) {
        let text = format!(
            "{} cached `{}` (a `done` run is in the store)",
            self.position(),
            cached.name
        );
        self.finished += 1;
        self.total = self.total.max(self.finished);
        self.line(&text);
        if let Some(bar) = &self.bar {
            bar.set_position(self.finished as u64);
        }
    }

    fn experiment_skipped(&mut self, name: &str) {
        self.total = self.total.saturating_sub(1).max(self.finished);
        self.line(&format!("skipped `{name}` (`Name: skip`)"));
    }

    fn queue_changed(&mut self, report: &QueueReport) {
        if let QueueReport::Changed { pending, .. } = report {
            self.total = self.finished + pending + 1;
            if let Some(bar) = &self.bar {
                bar.set_length(self.total as u64);
            }
        }
        self.line(&report.to_string());
    }

    fn message(&mut self, text: &str) {
        self.line(text);
    }

    fn queue_finished(&mut self, summary: &Summary) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let mut parts = vec![format!("{} done", summary.done)];
        for (n, what) in [
            (summary.cached, "cached"),
            (summary.failed, "failed"),
            (summary.timeout, "timed out"),
            (summary.interrupted, "interrupted"),
            (summary.skipped, "skipped"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        let mut text = format!(
            "finished: {} in {}",
            parts.join(", "),
            seconds(summary.elapsed)
        );
        if summary.pending > 0 {
            let _ = write!(text, "; {} still pending in the queue", summary.pending);
        }
        self.line(&text);
    }
}
