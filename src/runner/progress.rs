//! What people see, all on stderr. On a terminal: a live line (finished of
//! total, the running experiments, elapsed time, and an ETA once one has
//! finished), one line per running module that redraws a line of its own
//! (a `\r` progress bar), and module output and the runner's lines printed
//! above them. Otherwise: one plain line when each experiment starts and
//! ends.
//!
//! Every line counts the same way: `[finished/total]`, where finished is
//! every experiment done, failed, cached or skipped so far and total is
//! those plus the running and the pending ones. A started experiment is
//! named by its label (`#3 lr0.1`: the index of the run directory, then
//! the `Name`), so repeats and unnamed experiments can be told apart.

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::events::{Cached, Observer, Started, Summary};
use super::paint::Paint;
use crate::executor::{OutputSink, Stream, Terminal};
use crate::queue::QueueReport;
use crate::yaml_log::{Record, Status};

/// How the run is shown.
#[derive(Debug, Clone, Default)]
pub(crate) struct DisplayOptions {
    /// A live display (stderr is a terminal).
    pub live: bool,
    pub paint: Paint,
    /// Parallel slots: with more than one, lines name the slot.
    pub jobs: usize,
    /// The queue file, if the queue is one (what "pending" means at the end).
    pub queue_file: Option<PathBuf>,
}

/// A started experiment that has not finished yet.
struct Running {
    index: usize,
    label: String,
    slot: usize,
}

pub(crate) struct Progress {
    live: Option<Live>,
    options: DisplayOptions,
    finished: usize,
    failed: usize,
    running: Vec<Running>,
    /// Experiments in the queue, not yet taken.
    pending: usize,
}

/// The terminal display: the main bar and a line per redrawing module.
struct Live {
    bar: ProgressBar,
    sink: Arc<LiveSink>,
    eta_shown: bool,
}

const TEMPLATE: &str = "{spinner} [{pos}/{len}] {msg} · {elapsed} elapsed";

fn style(eta: bool) -> ProgressStyle {
    let template = if eta {
        format!("{TEMPLATE} · ETA {{eta}}")
    } else {
        TEMPLATE.to_owned()
    };
    ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_spinner())
}

impl Progress {
    /// `pending`: the experiments in the queue at the start.
    pub(crate) fn new(options: DisplayOptions, pending: usize) -> Self {
        let live = options.live.then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
            let bar = multi.add(ProgressBar::new(pending as u64));
            bar.set_style(style(false));
            bar.set_message("starting");
            bar.enable_steady_tick(Duration::from_millis(200));
            Live {
                bar,
                sink: Arc::new(LiveSink {
                    multi,
                    lines: Mutex::new(Vec::new()),
                }),
                eta_shown: false,
            }
        });
        Self {
            live,
            options,
            finished: 0,
            failed: 0,
            running: Vec::new(),
            pending,
        }
    }

    /// Where module output should go so that it does not garble the display.
    pub(crate) fn sink(&self) -> Arc<dyn OutputSink> {
        match &self.live {
            Some(live) => live.sink.clone(),
            None => Arc::new(Terminal),
        }
    }

    fn line(&self, text: &str) {
        if let Some(live) = &self.live {
            live.sink.multi.suspend(|| write_line(text));
        } else {
            write_line(text);
        }
    }

    fn total(&self) -> usize {
        self.finished + self.running.len() + self.pending
    }

    fn position(&self) -> String {
        format!("[{}/{}]", self.finished, self.total())
    }

    /// Bring the live line up to date.
    fn redraw(&mut self) {
        let total = self.total();
        let Some(live) = &mut self.live else { return };
        live.bar.set_length(total as u64);
        live.bar.set_position(self.finished as u64);
        if self.finished > 0 && !live.eta_shown {
            live.eta_shown = true;
            live.bar.set_style(style(true));
        }
        let labels: Vec<&str> = self.running.iter().map(|r| r.label.as_str()).collect();
        let mut message = match labels.len() {
            0 => "waiting".to_owned(),
            1..=3 => format!("running {}", labels.join(", ")),
            n => format!("running {n}: {}, ...", labels[..3].join(", ")),
        };
        if self.failed > 0 {
            let _ = write!(message, " · {} failed", self.failed);
        }
        live.bar.set_message(message);
    }

    fn slot(&self, slot: usize) -> String {
        if self.options.jobs > 1 {
            format!("slot {slot}")
        } else {
            String::new()
        }
    }
}

/// One `write` per line (stderr is unbuffered).
fn write_line(text: &str) {
    let mut line = String::with_capacity(text.len() + 1);
    line.push_str(text);
    line.push('\n');
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Module output on a live display: whole lines above the bars, and a
/// line under the main bar for each module that redraws one.
struct LiveSink {
    multi: MultiProgress,
    lines: Mutex<Vec<(usize, ProgressBar)>>,
}

impl OutputSink for LiveSink {
    fn write(&self, stream: Stream, bytes: &[u8]) {
        self.multi.suspend(|| Terminal.write(stream, bytes));
    }

    fn update(&self, job: usize, label: &str, line: Option<&str>) {
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        let at = lines.iter().position(|(j, _)| *j == job);
        match (line, at) {
            (Some(text), Some(at)) => lines[at].1.set_message(text.to_owned()),
            (Some(text), None) => {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("  {prefix} {wide_msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(format!("[{label}]"));
                bar.set_message(text.to_owned());
                lines.push((job, bar));
            }
            (None, Some(at)) => {
                let (_, bar) = lines.remove(at);
                bar.finish_and_clear();
                self.multi.remove(&bar);
            }
            (None, None) => {}
        }
    }

    fn live(&self) -> bool {
        true
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
        let label = crate::model::label(started.index, started.experiment);
        self.pending = started.pending;
        self.running.push(Running {
            index: started.index,
            label: label.clone(),
            slot: started.slot,
        });
        let slot = if self.options.jobs > 1 || started.running > 1 {
            format!(", slot {}", started.slot)
        } else {
            String::new()
        };
        let text = format!(
            "{} start {label} (pid {}{slot}) in {}",
            self.position(),
            started.id,
            started.run_dir.display()
        );
        self.line(&text);
        self.redraw();
    }

    fn attempt_failed(&mut self, record: &Record, _document: &yaml_serde::Mapping) {
        // The experiment starts again under a new index: this one is gone.
        self.running.retain(|r| r.index != record.index);
        self.redraw();
    }

    fn experiment_finished(&mut self, record: &Record, _document: &yaml_serde::Mapping) {
        let (label, slot) = match self.running.iter().position(|r| r.index == record.index) {
            Some(at) => {
                let running = self.running.remove(at);
                (running.label, self.slot(running.slot))
            }
            // It never started (bad runner keys, or its module could not
            // be launched): it has no index of its own.
            None => {
                self.pending = self.pending.saturating_sub(1);
                (format!("`{}`", record.name), String::new())
            }
        };
        self.finished += 1;
        if record.status.is_failure() {
            self.failed += 1;
        }
        let mut text = format!(
            "{} {} {label} in {}",
            self.position(),
            self.options.paint.status(record.status.as_str()),
            seconds(record.elapsed)
        );
        if !slot.is_empty() {
            let _ = write!(text, " ({slot})");
        }
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
        self.line(&text);
        self.redraw();
    }

    fn experiment_cached(&mut self, cached: &Cached<'_>) {
        self.finished += 1;
        self.pending = self.pending.saturating_sub(1);
        let text = format!(
            "{} {} `{}` (a `done` run is in the store)",
            self.position(),
            self.options.paint.status("cached"),
            cached.name
        );
        self.line(&text);
        self.redraw();
    }

    fn experiment_skipped(&mut self, name: &str) {
        self.finished += 1;
        self.pending = self.pending.saturating_sub(1);
        let text = format!(
            "{} {} `{name}` (`Name: skip`)",
            self.position(),
            self.options.paint.status("skipped")
        );
        self.line(&text);
        self.redraw();
    }

    fn queue_changed(&mut self, report: &QueueReport) {
        if let QueueReport::Changed { pending, .. } = report {
            self.pending = *pending;
            self.redraw();
        }
        self.line(&report.to_string());
    }

    fn message(&mut self, text: &str) {
        self.line(text);
    }

    fn queue_finished(&mut self, summary: &Summary) {
        if let Some(live) = self.live.take() {
            live.bar.finish_and_clear();
            let _ = live.sink.multi.clear();
        }
        let paint = self.options.paint;
        let mut parts = vec![format!("{} {}", summary.done, paint.status("done"))];
        for (n, what) in [
            (summary.cached, "cached"),
            (summary.failed, "failed"),
            (summary.timeout, "timed out"),
            (summary.interrupted, "interrupted"),
            (summary.skipped, "skipped"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {}", paint.status(what)));
            }
        }
        let mut text = format!(
            "finished: {} in {}",
            parts.join(", "),
            seconds(summary.elapsed)
        );
        if summary.pending > 0 {
            let _ = match &self.options.queue_file {
                Some(file) => write!(
                    text,
                    "; {} still pending in the queue file `{}` (rerun to resume them)",
                    summary.pending,
                    file.display()
                ),
                None => write!(
                    text,
                    "; {} pending experiment(s) not kept (no `Global.queue`): rerun to do them",
                    summary.pending
                ),
            };
        }
        self.line(&text);
    }
}
