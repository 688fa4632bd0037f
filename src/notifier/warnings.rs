//! Where the notifier's warnings go. Every warning is one line, starts with
//! `warning: slack:`, and has the bot token scrubbed out, whatever the text
//! came from (an HTTP error, a server's reply, a panic message).

use std::fmt;
use std::sync::Arc;

/// Receives each finished warning line (without a newline).
pub(crate) type WarningSink = Arc<dyn Fn(&str) + Send + Sync>;

/// A warning longer than this is cut: a server's reply body can be anything.
const MAX_CHARS: usize = 300;

/// Writes scrubbed one-line warnings to a sink (stderr by default).
#[derive(Clone)]
pub(crate) struct Warner {
    sink: WarningSink,
    secret: Option<String>,
}

impl fmt::Debug for Warner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Warner").finish_non_exhaustive()
    }
}

impl Warner {
    pub(crate) fn new(sink: WarningSink, secret: Option<String>) -> Self {
        Self {
            sink,
            secret: secret.filter(|s| !s.is_empty()),
        }
    }

    pub(crate) fn warn(&self, message: &str) {
        (self.sink)(&format!("warning: slack: {}", self.scrub(message)));
    }

    /// Remove the token, fold the text onto one line and cut it.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let text = match &self.secret {
            Some(secret) => text.replace(secret.as_str(), "[token]"),
            None => text.to_owned(),
        };
        let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.chars().count() > MAX_CHARS {
            let cut: String = line.chars().take(MAX_CHARS - 1).collect();
            format!("{cut}…")
        } else {
            line
        }
    }
}

/// The default sink: one line on stderr.
pub(crate) fn stderr_sink() -> WarningSink {
    Arc::new(|line: &str| {
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::Warner;

    #[test]
    fn scrubs_the_token_and_folds_lines() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = {
            let lines = Arc::clone(&lines);
            Arc::new(move |l: &str| lines.lock().unwrap().push(l.to_owned()))
        };
        let w = Warner::new(sink, Some("xoxb-secret".into()));
        w.warn("bad  token xoxb-secret\nin\tbody");
        w.warn(&"x".repeat(1000));
        let lines = lines.lock().unwrap();
        assert_eq!(lines[0], "warning: slack: bad token [token] in body");
        assert!(lines[1].chars().count() < 330);
    }
}
