//! Colour for the statuses on the terminal (done, failed, cached, ...):
//! on a terminal by default, off when piped or with `NO_COLOR`, or as
//! `--color always|never` says.

use anstyle::{AnsiColor, Style};

/// `--color`: when to colour the statuses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum ColourChoice {
    /// On a terminal, unless `NO_COLOR` is set (non-empty) or `TERM=dumb`.
    #[default]
    Auto,
    Always,
    Never,
}

/// Paints status words, or leaves them alone.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Paint {
    on: bool,
}

impl Paint {
    /// Decide once, from the choice, whether stderr is a terminal and the
    /// environment (`NO_COLOR`, `TERM`).
    pub(crate) fn new(
        choice: ColourChoice,
        terminal: bool,
        env: impl Fn(&str) -> Option<String>,
    ) -> Self {
        let on = match choice {
            ColourChoice::Always => true,
            ColourChoice::Never => false,
            ColourChoice::Auto => {
                terminal
                    && env("NO_COLOR").is_none_or(|v| v.is_empty())
                    && env("TERM").as_deref() != Some("dumb")
            }
        };
        Self { on }
    }

    /// `word` in the colour of its status.
    pub(crate) fn status(self, word: &str) -> String {
        let colour = match word {
            "done" => AnsiColor::Green,
            "failed" | "timeout" | "timed out" => AnsiColor::Red,
            "interrupted" => AnsiColor::Yellow,
            "cached" => AnsiColor::Cyan,
            "skipped" => AnsiColor::BrightBlack,
            _ => return word.to_owned(),
        };
        if !self.on {
            return word.to_owned();
        }
        let style = Style::new().fg_color(Some(colour.into())).bold();
        format!("{style}{word}{style:#}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_follows_the_terminal_and_no_color() {
        let none = |_: &str| None;
        let no_color = |k: &str| (k == "NO_COLOR").then(|| "1".to_owned());
        assert!(Paint::new(ColourChoice::Auto, true, none).on);
        assert!(!Paint::new(ColourChoice::Auto, false, none).on);
        assert!(!Paint::new(ColourChoice::Auto, true, no_color).on);
        assert!(Paint::new(ColourChoice::Always, false, no_color).on);
        assert!(!Paint::new(ColourChoice::Never, true, none).on);
        let on = Paint::new(ColourChoice::Always, false, none);
        assert_eq!(on.status("done"), "\u{1b}[1m\u{1b}[32mdone\u{1b}[0m");
        assert_eq!(on.status("start"), "start");
        assert_eq!(Paint::default().status("failed"), "failed");
    }
}
