//! A module's output on the terminal, line by line.
//!
//! The run directory keeps the output as written; the terminal gets whole
//! lines only, so a module's output is never glued mid-line to another
//! module's or to the runner's own display. A line a module keeps redrawing
//! with `\r` (tqdm and every other progress bar) is a *line update*: only
//! its latest state is shown, on the display's line for that module
//! (`OutputSink::update`); when the line ends (`\n`) its final state is
//! printed once. Without a live display (stderr is not a terminal), an
//! update is printed as a line at most every `UPDATE_EVERY`.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::{OutputSink, Stream};

/// How often a non-live display prints a module's line update.
const UPDATE_EVERY: Duration = Duration::from_secs(10);

/// A line longer than this without an end is printed as it is.
const LONGEST_LINE: usize = 64 * 1024;

/// One job's output, split into lines for the terminal.
pub(crate) struct JobOutput {
    inner: Arc<dyn OutputSink>,
    job: usize,
    label: String,
    /// Prefix each line with `[label] ` (several modules run at once).
    prefix: bool,
    state: Mutex<State>,
}

struct State {
    /// The unfinished line of stdout and of stderr.
    partial: [Vec<u8>; 2],
    /// The update shown now, if any.
    shown: Option<String>,
    /// When a non-live display last printed an update.
    printed_at: Instant,
}

impl JobOutput {
    pub(crate) fn new(inner: Arc<dyn OutputSink>, job: usize, label: String, prefix: bool) -> Self {
        Self {
            inner,
            job,
            label,
            prefix,
            state: Mutex::new(State {
                partial: [Vec::new(), Vec::new()],
                shown: None,
                printed_at: Instant::now(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Each line of `lines` in its final state (after its last `\r`),
    /// prefixed when asked, each ending with `\n`.
    fn finish_lines(&self, lines: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(lines.len() + 16);
        for line in lines.split_inclusive(|b| *b == b'\n') {
            let body = line.strip_suffix(b"\n").unwrap_or(line);
            if self.prefix {
                out.extend_from_slice(format!("[{}] ", self.label).as_bytes());
            }
            out.extend_from_slice(latest(body));
            out.push(b'\n');
        }
        out
    }

    /// Show `update` (the unfinished line's latest state) if it changed.
    fn show(&self, state: &mut State, stream: Stream, update: Option<String>) {
        if state.shown == update {
            return;
        }
        if self.inner.live() {
            self.inner.update(self.job, &self.label, update.as_deref());
        } else if let Some(text) = &update {
            if state.printed_at.elapsed() >= UPDATE_EVERY {
                state.printed_at = Instant::now();
                let line = self.finish_lines(text.as_bytes());
                self.inner.write(stream, &line);
            }
        }
        state.shown = update;
    }
}

/// What a terminal shows of a line that holds `\r`s: the text after the
/// last one (a trailing `\r`, as in `\r\n`, does not count).
fn latest(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && line[end - 1] == b'\r' {
        end -= 1;
    }
    let line = &line[..end];
    match line.iter().rposition(|b| *b == b'\r') {
        Some(at) => &line[at + 1..],
        None => line,
    }
}

impl OutputSink for JobOutput {
    fn write(&self, stream: Stream, bytes: &[u8]) {
        let i = usize::from(stream == Stream::Stderr);
        let mut state = self.lock();
        let partial = &mut state.partial[i];
        partial.extend_from_slice(bytes);
        let mut lines = match partial.iter().rposition(|b| *b == b'\n') {
            Some(end) => {
                let rest = partial.split_off(end + 1);
                std::mem::replace(partial, rest)
            }
            None => Vec::new(),
        };
        if partial.len() > LONGEST_LINE && !partial.contains(&b'\r') {
            lines.append(partial);
            lines.push(b'\n');
        }
        // Keep only the latest state of a redrawn line.
        if let Some(at) = partial.iter().rposition(|b| *b == b'\r') {
            if at + 1 < partial.len() {
                partial.drain(..at);
            }
        }
        let update = Some(String::from_utf8_lossy(latest(partial)).into_owned())
            .filter(|text| !text.trim().is_empty());
        if !lines.is_empty() {
            // The finished line replaces the update shown for it.
            self.show(&mut state, stream, None);
            self.inner.write(stream, &self.finish_lines(&lines));
        }
        self.show(&mut state, stream, update);
    }
}

impl Drop for JobOutput {
    fn drop(&mut self) {
        let mut state = std::mem::replace(
            &mut *self.lock(),
            State {
                partial: [Vec::new(), Vec::new()],
                shown: None,
                printed_at: Instant::now(),
            },
        );
        self.show(&mut state, Stream::Stderr, None);
        for (i, rest) in state.partial.iter().enumerate() {
            if !latest(rest).is_empty() {
                let stream = if i == 0 {
                    Stream::Stdout
                } else {
                    Stream::Stderr
                };
                self.inner.write(stream, &self.finish_lines(rest));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what reaches the terminal.
    #[derive(Default)]
    struct Screen {
        live: bool,
        seen: Mutex<Vec<String>>,
    }

    impl OutputSink for Screen {
        fn write(&self, _: Stream, bytes: &[u8]) {
            let text = String::from_utf8_lossy(bytes).into_owned();
            self.seen.lock().unwrap().push(text);
        }
        fn update(&self, job: usize, label: &str, line: Option<&str>) {
            let text = format!("update {job} {label}: {line:?}");
            self.seen.lock().unwrap().push(text);
        }
        fn live(&self) -> bool {
            self.live
        }
    }

    fn feed(live: bool, prefix: bool, chunks: &[&str]) -> Vec<String> {
        let screen = Arc::new(Screen {
            live,
            ..Screen::default()
        });
        let out = JobOutput::new(screen.clone(), 3, "#3 a".to_owned(), prefix);
        for chunk in chunks {
            out.write(Stream::Stderr, chunk.as_bytes());
        }
        drop(out);
        let seen = screen.seen.lock().unwrap().clone();
        seen
    }

    #[test]
    fn carriage_returns_are_line_updates() {
        let seen = feed(
            true,
            true,
            &["\r 0%", "\r 5", "0%\r100%", "\nnext\r\n", "tail"],
        );
        assert_eq!(
            seen,
            [
                "update 3 #3 a: Some(\" 0%\")",
                "update 3 #3 a: Some(\" 5\")",
                "update 3 #3 a: Some(\"100%\")",
                "update 3 #3 a: None",
                "[#3 a] 100%\n[#3 a] next\n",
                "update 3 #3 a: Some(\"tail\")",
                "update 3 #3 a: None",
                "[#3 a] tail\n",
            ]
        );
    }

    #[test]
    fn without_a_live_display_only_final_lines_are_printed() {
        let seen = feed(false, false, &["\r1%", "\r2%", "\r3%\n", "a\nb"]);
        assert_eq!(seen, ["3%\n", "a\n", "b\n"]);
    }
}
