//! Splitting a multi-document YAML text into its documents, by text.
//!
//! The runner removes a document from the queue file by cutting its text
//! out, so everything else (comments, formatting, even a part that does not
//! parse yet) stays exactly as the person wrote it. A line that starts with
//! `---` (followed by nothing or a space) begins a document: YAML forbids
//! such a line inside a scalar, so this agrees with the parser.

use super::entry::is_expanded_mark;

/// One document's place in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    /// Byte offset of the document (its `---` line, if it has one).
    pub start: usize,
    /// Byte offset just past its last content line: comment and blank
    /// lines after it belong to the next document and are not cut with it.
    pub end: usize,
    /// 1-based line number of `start`.
    pub line: usize,
    /// Whether it starts with a `---` line.
    pub has_marker: bool,
    /// Whether it holds anything besides comments and blank lines.
    pub has_content: bool,
    /// Whether its `---` line carries the mark of an expanded document
    /// (`entry.rs`).
    pub expanded: bool,
}

fn is_marker(line: &str) -> bool {
    // Byte by byte: this runs on every line of a long queue file.
    match line.as_bytes() {
        [b'-', b'-', b'-'] => true,
        [b'-', b'-', b'-', next, ..] => matches!(next, b' ' | b'\t' | b'\r' | b'\n'),
        _ => false,
    }
}

fn is_content(line: &str) -> bool {
    let trimmed = line.trim_start();
    !trimmed.is_empty() && !trimmed.starts_with('#')
}

/// The segments of `text`, in order. Segments without content are kept
/// (a leading comment block, an empty `---`).
pub(crate) fn split(text: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut current = Segment {
        start: 0,
        end: 0,
        line: 1,
        has_marker: false,
        has_content: false,
        expanded: false,
    };
    let mut offset = 0;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        let next = offset + line.len();
        if is_marker(line) {
            if offset > 0 {
                if !current.has_content {
                    current.end = offset;
                }
                out.push(current);
            }
            let rest = &line[3..];
            current = Segment {
                start: offset,
                end: next,
                line: n + 1,
                has_marker: true,
                has_content: is_content(rest),
                expanded: is_expanded_mark(rest),
            };
        } else if is_content(line) {
            current.has_content = true;
            current.end = next;
        }
        offset = next;
    }
    if !current.has_content {
        current.end = text.len();
    }
    if offset > 0 || out.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &str) -> Vec<(&str, bool)> {
        split(text)
            .iter()
            .map(|s| (&text[s.start..s.end], s.has_content))
            .collect()
    }

    #[test]
    fn documents_and_their_comments() {
        let text = "# header\n---\na: 1\n# about b\n\n---\nb: 2\n--- {c: 3}\n";
        assert_eq!(
            pieces(text),
            [
                ("# header\n", false),
                ("---\na: 1\n", true),
                ("---\nb: 2\n", true),
                ("--- {c: 3}\n", true),
            ]
        );
        let segments = split(text);
        assert_eq!(segments[2].line, 6);
        // The comment after `a: 1` stays when `a` is cut.
        let cut = format!("{}{}", &text[..segments[1].start], &text[segments[1].end..]);
        assert_eq!(cut, "# header\n# about b\n\n---\nb: 2\n--- {c: 3}\n");
    }

    #[test]
    fn the_expanded_mark_is_seen_on_the_document_line() {
        let text = "--- # expanded by cool-runner\na: 1\n---\nb: 2\n--- # mine\nc: 3\n";
        let marks: Vec<bool> = split(text).iter().map(|s| s.expanded).collect();
        assert_eq!(marks, [true, false, false]);
    }

    #[test]
    fn no_markers_and_no_newline() {
        assert_eq!(pieces("a: 1"), [("a: 1", true)]);
        assert_eq!(pieces(""), [("", false)]);
        assert_eq!(pieces("---"), [("---", false)]);
        assert_eq!(pieces("a: 1\n----\n"), [("a: 1\n----\n", true)]);
        assert_eq!(
            pieces("a: |\n  x\n---\n"),
            [("a: |\n  x\n", true), ("---\n", false)]
        );
    }
}
