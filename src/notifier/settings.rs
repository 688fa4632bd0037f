//! `Global.slack` in the default config: read by `model::Global` before
//! anything runs, so a typo stops the run instead of silencing the messages.

use yaml_serde::Value;

use crate::model::global::{key_text, value_kind};
use crate::model::keys::unknown_key_message;

/// The keys `Global.slack` may hold.
const SLACK_KEYS: [&str; 2] = ["channel", "each"];

/// Where and how often to post (`Global.slack: {channel: "#experiments", each: false}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SlackSettings {
    /// A channel name (`#experiments`) or id (`C0123456789`).
    pub channel: String,
    /// Post a message for every finished experiment, not only for failures.
    pub each: bool,
}

/// A `Global.slack` that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SlackConfigError {
    #[error(
        "`Global.slack` must be a mapping such as `{{channel: \"#experiments\"}}`, found {found}"
    )]
    NotAMapping { found: &'static str },
    #[error(
        "`Global.slack` has no `channel`; hint: add `channel: \"#experiments\"` \
         or pass `+Global.slack.channel=#experiments`"
    )]
    MissingChannel,
    #[error(
        "`Global.slack.channel` must be a non-empty string, found {found}; \
         hint: quote it (`channel: \"#experiments\"`), since `#` starts a YAML comment"
    )]
    BadChannel { found: &'static str },
    #[error("`Global.slack.each` must be `true` or `false`, found {found}")]
    BadEach { found: &'static str },
    /// "unknown key `Global.slack.chanel`; did you mean `channel`?"
    #[error("{message}")]
    UnknownKey { key: String, message: String },
}

impl SlackSettings {
    /// Read the value of `Global.slack`. `None` when it is absent or null
    /// (`+Global.slack=` switches notifications off).
    pub(crate) fn from_value(value: Option<&Value>) -> Result<Option<Self>, SlackConfigError> {
        let slack = match value {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Mapping(slack)) => slack,
            Some(other) => {
                return Err(SlackConfigError::NotAMapping {
                    found: value_kind(other),
                })
            }
        };
        for key in slack.keys() {
            let key = key_text(key);
            if !SLACK_KEYS.contains(&key.as_str()) {
                let message = unknown_key_message("Global.slack", &key, &SLACK_KEYS);
                return Err(SlackConfigError::UnknownKey { key, message });
            }
        }
        let channel = match slack.get("channel") {
            None => return Err(SlackConfigError::MissingChannel),
            Some(Value::String(channel)) if !channel.trim().is_empty() => channel.trim().to_owned(),
            Some(other) => {
                return Err(SlackConfigError::BadChannel {
                    found: value_kind(other),
                })
            }
        };
        let each = match slack.get("each") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(each)) => *each,
            Some(other) => {
                return Err(SlackConfigError::BadEach {
                    found: value_kind(other),
                })
            }
        };
        Ok(Some(Self { channel, each }))
    }
}

#[cfg(test)]
mod tests {
    use yaml_serde::Mapping;

    use super::{SlackConfigError, SlackSettings};

    fn parse(text: &str) -> Result<Option<SlackSettings>, SlackConfigError> {
        let global: Mapping = yaml_serde::from_str(text).unwrap();
        SlackSettings::from_value(global.get("slack"))
    }

    #[test]
    fn absent_or_null_is_off() {
        assert_eq!(parse("repeat: 1").unwrap(), None);
        assert_eq!(parse("slack: null").unwrap(), None);
    }

    #[test]
    fn channel_and_each() {
        let s = parse("slack: {channel: \"#experiments\"}")
            .unwrap()
            .unwrap();
        assert_eq!(s.channel, "#experiments");
        assert!(!s.each);
        let s = parse("slack: {channel: C0123, each: true}")
            .unwrap()
            .unwrap();
        assert_eq!(s.channel, "C0123");
        assert!(s.each);
    }

    #[test]
    fn mistakes_are_errors_with_hints() {
        assert_eq!(
            parse("slack: \"#experiments\"").unwrap_err(),
            SlackConfigError::NotAMapping { found: "a string" }
        );
        assert_eq!(
            parse("slack: {each: true}").unwrap_err(),
            SlackConfigError::MissingChannel
        );
        // Unquoted `#experiments` is a YAML comment, hence null.
        let err = parse("slack: {channel: #experiments\n}").unwrap_err();
        assert!(err.to_string().contains("quote it"), "{err}");
        assert_eq!(
            parse("slack: {channel: x, each: 1}").unwrap_err(),
            SlackConfigError::BadEach { found: "a number" }
        );
        assert_eq!(
            parse("slack: {channel: \"#x\", each: yes}").unwrap_err(),
            SlackConfigError::BadEach { found: "a string" }
        );
        assert_eq!(
            parse("slack: {chanel: x}").unwrap_err().to_string(),
            "unknown key `Global.slack.chanel`; did you mean `channel`?"
        );
        assert_eq!(
            parse("slack: {color: red}").unwrap_err().to_string(),
            "unknown key `Global.slack.color`; the known keys are `channel`, `each`"
        );
    }
}
