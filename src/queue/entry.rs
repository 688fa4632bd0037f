//! A queued experiment, and whether the runner has expanded it already.
//!
//! The runner writes every experiment it expanded under a marked document
//! line, `--- # expanded by cool-runner` (a YAML comment: every YAML reader
//! still sees the same mapping). A document without the mark was written by
//! a person and is expanded fully when it is taken: merged over the
//! defaults, copied `Repeat` times, given the runner keys, its `parse`
//! values evaluated. A marked document only has its remaining `parse`
//! values evaluated (a person may have edited it). A person who copies a
//! marked document copies the mark: a copy of an expanded experiment is
//! one.
//!
//! Queue files written before the mark existed: an unmarked document that
//! carries all four runner keys (`REP`, `GLOBAL_REP`, `RND_IDX`, `HOST`)
//! counts as expanded too. This is decided per document, not per file, so
//! that a document's state does not flip when the runner later writes a
//! marked one into such a file (a requeue). A person's document that writes
//! only some of these keys (`REP: 5`) is not expanded.

use std::ops::Deref;

use yaml_serde::Mapping;

use crate::config::RUNNER_KEYS;

/// The comment on the `---` line of a document the runner expanded.
pub(crate) const EXPANDED_MARK: &str = "# expanded by cool-runner";

/// The `---` line the runner writes before an expanded document.
pub(crate) const EXPANDED_LINE: &str = "--- # expanded by cool-runner\n";

/// One pending experiment document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum QueueEntry {
    /// Written by a person: expanded fully when taken.
    Raw(Mapping),
    /// Written by the runner (already expanded): only `parse` values left
    /// by an edit are evaluated when taken.
    Expanded(Mapping),
}

impl QueueEntry {
    /// A document read from a queue file; `marked` when its `---` line
    /// carries [`EXPANDED_MARK`].
    pub(crate) fn read(map: Mapping, marked: bool) -> Self {
        if marked || RUNNER_KEYS.iter().all(|key| map.contains_key(*key)) {
            Self::Expanded(map)
        } else {
            Self::Raw(map)
        }
    }

    pub(crate) fn mapping(&self) -> &Mapping {
        match self {
            Self::Raw(map) | Self::Expanded(map) => map,
        }
    }

    #[cfg(test)]
    pub(crate) fn is_expanded(&self) -> bool {
        matches!(self, Self::Expanded(_))
    }
}

/// The experiment's keys, whatever its state.
impl Deref for QueueEntry {
    type Target = Mapping;

    fn deref(&self) -> &Mapping {
        self.mapping()
    }
}

/// Whether the rest of a `---` line (what follows the three dashes) is the
/// mark of an expanded document.
pub(crate) fn is_expanded_mark(rest: &str) -> bool {
    rest.trim_start().starts_with(EXPANDED_MARK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(text: &str) -> Mapping {
        yaml_serde::from_str(text).unwrap()
    }

    #[test]
    fn marked_or_all_runner_keys_is_expanded() {
        assert!(QueueEntry::read(map("a: 1"), true).is_expanded());
        assert!(!QueueEntry::read(map("a: 1\nREP: 5"), false).is_expanded());
        let legacy = map("a: 1\nREP: 0\nGLOBAL_REP: 0\nRND_IDX: 123456\nHOST: h");
        assert!(QueueEntry::read(legacy, false).is_expanded());
        assert!(is_expanded_mark(&EXPANDED_LINE[3..]));
        assert!(is_expanded_mark(
            " # expanded by cool-runner, then edited\n"
        ));
        assert!(!is_expanded_mark(" # mine\n"));
        assert!(!is_expanded_mark("\n"));
        assert_eq!(
            QueueEntry::Raw(map("a: 1"))["a"],
            yaml_serde::Value::from(1)
        );
    }
}
