//! Limits on the YAML that any command reads, checked in one linear pass
//! before the text reaches a parser.
//!
//! libyaml's scanner checks every open flow level on every token (100k
//! nested `[` take minutes to refuse), and the recursive readers overflow
//! the stack on a block mapping nested thousands of levels. Real
//! experiment files and logs nest a handful of levels; anything nested
//! deeper than [`MAX_DEPTH`] is refused here, in milliseconds, with its
//! line. The scan over-estimates rather than under-estimates: a level is
//! every deeper indentation, every leading `- ` and every open `[` or `{`
//! outside quotes and comments.

/// How deeply a YAML document may nest (indentation levels, sequence
/// items and flow collections together). `yaml_serde` refuses 128.
pub(crate) const MAX_DEPTH: usize = 100;

use std::path::Path;

/// A document nested deeper than [`MAX_DEPTH`], at this 1-based line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooDeep {
    pub line: usize,
}

impl std::fmt::Display for TooDeep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "nested deeper than {MAX_DEPTH} levels (the limit on YAML nesting)"
        )
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Single,
    Double,
}

/// The scanner's state across lines.
struct Scan {
    /// Indentation of each open block level.
    indents: Vec<usize>,
    flow: usize,
    quote: Quote,
    /// Inside a block scalar (`|`, `>`) opened on a line at this indentation.
    block_scalar: Option<usize>,
}

/// Refuse `text` if a document in it nests deeper than [`MAX_DEPTH`].
pub(crate) fn check_depth(text: &str) -> Result<(), TooDeep> {
    DepthGuard::new(text).through_document(usize::MAX)
}

/// [`check_depth`] one document at a time, for a reader that may stop
/// early (`--pick`, `explain`): the text is scanned only as far as it is
/// read, never less.
pub(crate) struct DepthGuard<'t> {
    scan: Scan,
    lines: std::iter::Enumerate<std::str::Split<'t, char>>,
    /// `---` lines scanned so far.
    markers: usize,
}

impl<'t> DepthGuard<'t> {
    pub(crate) fn new(text: &'t str) -> Self {
        Self {
            scan: Scan {
                indents: Vec::new(),
                flow: 0,
                quote: Quote::None,
                block_scalar: None,
            },
            lines: text.split('\n').enumerate(),
            markers: 0,
        }
    }

    /// Scan at least through document `n` (0-based): until the start of
    /// the document after the next one, or the end. The file's first
    /// document may have no `---`, so one document more is scanned.
    pub(crate) fn through_document(&mut self, n: usize) -> Result<(), TooDeep> {
        while self.markers <= n.saturating_add(1) {
            let Some((at, line)) = self.lines.next() else {
                return Ok(());
            };
            if line.starts_with("---") {
                self.markers += 1;
            }
            if self.scan.line(line) > MAX_DEPTH {
                return Err(TooDeep { line: at + 1 });
            }
        }
        Ok(())
    }
}

impl Scan {
    /// Scan one line; the deepest level reached in it.
    fn line(&mut self, line: &str) -> usize {
        let content = line.trim_start_matches(' ');
        let indent = line.len() - content.len();
        let blank = content.trim().is_empty();
        if let Some(at) = self.block_scalar {
            if blank || indent > at {
                return 0;
            }
            self.block_scalar = None;
        }
        if line.starts_with("---") || line.starts_with("...") {
            self.indents.clear();
        }
        let mut rest = content;
        if self.quote == Quote::None && self.flow == 0 {
            if blank || content.starts_with('#') {
                return 0;
            }
            while self.indents.last().is_some_and(|&top| top > indent) {
                self.indents.pop();
            }
            if self.indents.last().is_none_or(|&top| top < indent) {
                self.indents.push(indent);
            }
            while let Some(after) = rest.strip_prefix("- ").or(rest.strip_prefix("? ")) {
                self.indents.push(usize::MAX);
                rest = after.trim_start_matches(' ');
            }
            // Sequence items stand for one line only.
            let items = self.indents.iter().rev().take_while(|&&i| i == usize::MAX);
            let items = items.count();
            let depth = self.indents.len();
            self.indents.truncate(depth - items);
            return self.inline(rest, indent, depth);
        }
        self.inline(rest, indent, self.indents.len())
    }

    /// Scan the text of a line for quotes, comments and flow brackets.
    fn inline(&mut self, text: &str, indent: usize, block: usize) -> usize {
        let bytes = text.as_bytes();
        let mut deepest = block + self.flow;
        // Whether a token may start here (quotes and brackets open only there).
        let mut token_start = true;
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            i += 1;
            match self.quote {
                Quote::Double => match b {
                    b'\\' => i += 1,
                    b'"' => self.quote = Quote::None,
                    _ => {}
                },
                Quote::Single if b == b'\'' => {
                    if bytes.get(i) == Some(&b'\'') {
                        i += 1;
                    } else {
                        self.quote = Quote::None;
                    }
                }
                Quote::Single => {}
                Quote::None => {
                    match b {
                        b'#' if token_start => return deepest,
                        b'"' if token_start => self.quote = Quote::Double,
                        b'\'' if token_start => self.quote = Quote::Single,
                        b'[' | b'{' if token_start || self.flow > 0 => {
                            self.flow += 1;
                            deepest = deepest.max(block + self.flow);
                        }
                        b']' | b'}' if self.flow > 0 => self.flow -= 1,
                        b'|' | b'>' if token_start && self.flow == 0 => {
                            let tail = &text[i..];
                            let tail = tail.split(" #").next().unwrap_or(tail).trim_end();
                            if tail.bytes().all(|c| matches!(c, b'-' | b'+' | b'0'..=b'9')) {
                                self.block_scalar = Some(indent);
                                return deepest;
                            }
                        }
                        _ => {}
                    }
                    token_start = matches!(b, b' ' | b'\t' | b'[' | b'{' | b',' | b'-' | b'?')
                        || (b == b':' && self.flow > 0);
                    continue;
                }
            }
            token_start = false;
        }
        deepest
    }
}

/// The largest file `collect` and `filter` read, unless `--max-size` says
/// otherwise: 1 GiB.
pub(crate) const DEFAULT_MAX_SIZE: u64 = 1 << 30;

/// Read the text of a regular file of at most `max` bytes. A FIFO, a
/// device (`/dev/zero`, through a symlink or not) or a larger file is
/// refused with a reason, without blocking or reading it.
pub(crate) fn read_text(path: &Path, max: u64) -> Result<String, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    // Non-blocking: opening a FIFO without a writer would wait forever.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
        .map_err(|err| err.to_string())?;
    let meta = file.metadata().map_err(|err| err.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".to_owned());
    }
    let too_big = || format!("larger than the size limit of {max} bytes (--max-size)");
    if meta.len() > max {
        return Err(too_big());
    }
    // Sized once: growing by doubling would copy a large log several times.
    let mut text = String::with_capacity(usize::try_from(meta.len()).unwrap_or(0) + 1);
    file.take(max + 1)
        .read_to_string(&mut text)
        .map_err(|err| err.to_string())?;
    if text.len() as u64 > max {
        return Err(too_big());
    }
    Ok(text)
}

/// A size with an optional `K`, `M` or `G` suffix (powers of 1,024).
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().last() {
        Some((at, c @ ('k' | 'K' | 'm' | 'M' | 'g' | 'G'))) => {
            (&text[..at], c.to_ascii_uppercase())
        }
        _ => (text, 'B'),
    };
    let shift = match unit {
        'K' => 10,
        'M' => 20,
        'G' => 30,
        _ => 0,
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| format!("`{text}` is not a size (bytes, or a number with K, M or G)"))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use yaml_serde::Value;

    use super::*;

    fn depth_ok(text: &str) -> bool {
        check_depth(text).is_ok()
    }

    #[test]
    fn ordinary_documents_pass() {
        for text in [
            "a: 1\nb:\n  c: [1, {d: 2}]\n  e:\n  - x\n  - - y\n",
            "s: \"[[[[\"\nt: '{{{{ it''s'\nu: x[[[[ # [[[[\n",
            "a: |\n  [[[[[[\n      {{{{{\nb: 2\n",
            "---\na: 1\n---\nb: 2\n",
        ] {
            assert!(depth_ok(text), "{text}");
        }
        let mut deep_but_fine = String::new();
        for i in 0..MAX_DEPTH - 2 {
            deep_but_fine.push_str(&" ".repeat(i));
            deep_but_fine.push_str("a:\n");
        }
        assert!(depth_ok(&deep_but_fine));
        // Indented siblings do not add up.
        let siblings = "a:\n  b: 1\n  c: 1\n".repeat(1000);
        assert!(depth_ok(&siblings));
    }

    #[test]
    fn deep_documents_are_refused() {
        let mut block = String::new();
        for i in 0..9000 {
            block.push_str(&" ".repeat(i));
            block.push_str("a:\n");
        }
        assert_eq!(
            check_depth(&block),
            Err(TooDeep {
                line: MAX_DEPTH + 1
            })
        );
        assert!(!depth_ok(&format!("a: {}", "[".repeat(100_000))));
        assert!(!depth_ok(&format!("a: {}", "{a: ".repeat(100_000))));
        assert!(!depth_ok(&"- ".repeat(200)));
        assert!(!depth_ok(&format!("a: [\n{}\n", "[\n".repeat(200))));
    }

    #[test]
    fn sizes_and_what_is_not_a_file() {
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("2k"), Ok(2048));
        assert_eq!(parse_size("1G"), Ok(DEFAULT_MAX_SIZE));
        assert!(parse_size("x").is_err());
        assert!(parse_size("99999999999G").is_err());
        assert_eq!(
            read_text(Path::new("/dev/zero"), 10),
            Err("not a regular file".to_owned())
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.yaml");
        std::fs::write(&path, "a: 1\n").unwrap();
        assert_eq!(read_text(&path, 5).as_deref(), Ok("a: 1\n"));
        assert!(read_text(&path, 4).unwrap_err().contains("size limit"));
    }

    /// A value nested `depth` levels: mappings, sequences and scalars.
    fn nested(depth: u32) -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<i64>().prop_map(Value::from),
            "[a-z \\[\\]{}#'\"|>:-]{0,10}".prop_map(Value::from),
        ];
        leaf.prop_recursive(depth, 4 * depth, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Sequence),
                prop::collection::vec(("[a-z]{1,4}", inner), 0..3).prop_map(|kv| {
                    Value::Mapping(kv.into_iter().map(|(k, v)| (Value::from(k), v)).collect())
                }),
            ]
        })
    }

    proptest! {
        /// No false refusals: documents nested well within the limit, as
        /// `yaml_serde` and the log writer write them, pass the scan.
        #[test]
        fn documents_within_the_limit_pass(value in nested(40)) {
            let mut doc = yaml_serde::Mapping::new();
            doc.insert("v".into(), value);
            let library = yaml_serde::to_string(&doc).unwrap();
            prop_assert!(check_depth(&library).is_ok(), "{}", library);
            let ours = crate::yaml::write::document_bytes(&doc).unwrap();
            let ours = String::from_utf8(ours).unwrap();
            prop_assert!(check_depth(&ours).is_ok(), "{}", ours);
        }

        /// Any text at all: the scan and every reader answer, never panic.
        #[test]
        fn any_text_is_read_or_refused(text in "(\\PC|[\\[\\]{}:#'\"\\n -]){0,200}") {
            let _ = check_depth(&text);
            let _ = crate::yaml::read::parse_documents(&text, Path::new("x.yaml"));
            for piece in crate::yaml::stream::split(&text) {
                let _ = crate::yaml::stream::parse_piece(&piece);
            }
            let _ = crate::yaml::fast::parse_mapping(&text);
        }
    }
}
