//! The runner's own secrets (the Slack bot token): never handed to a
//! module unless asked for, and never written or posted by the runner.
//!
//! * A module's environment lacks every name in [`SECRETS`], unless it is
//!   listed in `COOL_RUNNER_PASS_ENV` (comma-separated), which passes it on
//!   deliberately: `COOL_RUNNER_PASS_ENV=SLACK_BOT_TOKEN`.
//! * Their values (when 8 characters or longer) are replaced by
//!   `REDACTED_<NAME>` in what the runner writes: log documents, the store,
//!   module output copied to the run directory and the terminal (so the
//!   stderr tail too), and Slack messages.

use std::borrow::Cow;
use std::process::Command;
use std::sync::OnceLock;

/// Environment variables that are the runner's secrets.
pub(crate) const SECRETS: [&str; 1] = ["SLACK_BOT_TOKEN"];

/// Names of secrets to pass to modules after all.
pub(crate) const PASS_ENV: &str = "COOL_RUNNER_PASS_ENV";

/// Shorter values are not redacted (they would match ordinary text).
const MIN_SECRET: usize = 8;

/// Remove the secrets from a module's environment, except those named in
/// `COOL_RUNNER_PASS_ENV`.
pub(crate) fn withhold(command: &mut Command) {
    let pass = std::env::var(PASS_ENV).unwrap_or_default();
    for name in SECRETS {
        if !pass.split(',').any(|p| p.trim() == name) {
            command.env_remove(name);
        }
    }
}

/// (value, replacement) of every secret set in the runner's environment.
fn values() -> &'static [(String, String)] {
    static VALUES: OnceLock<Vec<(String, String)>> = OnceLock::new();
    VALUES.get_or_init(|| {
        SECRETS
            .iter()
            .filter_map(|name| {
                let value = std::env::var(name).ok()?;
                (value.trim().len() >= MIN_SECRET).then(|| (value, format!("REDACTED_{name}")))
            })
            .collect()
    })
}

/// `text` with every secret value replaced.
pub(crate) fn redact(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    for (value, replacement) in values() {
        if out.contains(value.as_str()) {
            out = Cow::Owned(out.replace(value.as_str(), replacement));
        }
    }
    out
}

/// `bytes` with every secret value replaced.
pub(crate) fn redact_bytes(bytes: &[u8]) -> Cow<'_, [u8]> {
    let mut out = Cow::Borrowed(bytes);
    for (value, replacement) in values() {
        let value = value.as_bytes();
        if let Some(first) = find(&out, value) {
            let mut replaced = out[..first].to_vec();
            let mut rest = &out[first..];
            while let Some(at) = find(rest, value) {
                replaced.extend_from_slice(&rest[..at]);
                replaced.extend_from_slice(replacement.as_bytes());
                rest = &rest[at + value.len()..];
            }
            replaced.extend_from_slice(rest);
            out = Cow::Owned(replaced);
        }
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finding_bytes() {
        assert_eq!(find(b"abcabc", b"ca"), Some(2));
        assert_eq!(find(b"ab", b"abc"), None);
        // Without secrets in the environment nothing changes.
        assert!(matches!(redact("xoxb-1"), Cow::Borrowed(_)) || values().is_empty());
    }
}
