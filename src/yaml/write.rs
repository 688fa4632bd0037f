//! Writing YAML streams: every document starts with `---`, so streams can be
//! concatenated and appended to safely.
//!
//! Experiments are plain data (mappings, lists, scalars), and emitting them
//! through libyaml costs more than expanding them. [`emit_document`] writes
//! that common shape directly, in the same block style as `yaml_serde`,
//! quoting every string that could read back as anything but itself; it
//! falls back to `yaml_serde` for anything else (tags, complex keys, lists
//! directly inside lists). A property test checks that the output parses
//! back to the same value.

use std::io::{self, Write};

use serde::Serialize;
use yaml_serde::{Mapping, Number, Value};

/// Serialize one document, `---` line included, into a byte buffer.
pub(crate) fn document_bytes(doc: &Mapping) -> Result<Vec<u8>, yaml_serde::Error> {
    let mut buf = Vec::with_capacity(512);
    emit_document(&mut buf, doc)?;
    Ok(buf)
}

/// Append one document (`---` line included) to `buf`.
pub(crate) fn emit_document(buf: &mut Vec<u8>, doc: &Mapping) -> Result<(), yaml_serde::Error> {
    let start = buf.len();
    buf.extend_from_slice(b"---\n");
    if doc.is_empty() {
        buf.extend_from_slice(b"{}\n");
        return Ok(());
    }
    if emit_mapping(buf, doc, 0, false).is_none() {
        buf.truncate(start);
        buf.extend_from_slice(b"---\n");
        yaml_serde::to_writer(&mut *buf, doc)?;
    }
    Ok(())
}

/// One document of any YAML value (mappings take the fast path).
pub(crate) fn value_document_bytes(doc: &Value) -> Result<Vec<u8>, yaml_serde::Error> {
    match doc {
        Value::Mapping(map) => document_bytes(map),
        other => serde_document_bytes(other),
    }
}

/// Write documents from an iterator, in order, on this thread.
pub(crate) fn write_documents_iter<'a, W: Write>(
    out: &mut W,
    docs: impl IntoIterator<Item = &'a Mapping>,
) -> io::Result<()> {
    let mut buf = Vec::with_capacity(1 << 16);
    for doc in docs {
        emit_document(&mut buf, doc).map_err(io::Error::other)?;
        if buf.len() >= 1 << 16 {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    out.write_all(&buf)?;
    out.flush()
}

/// Serialize any serde value as one document with `yaml_serde`.
pub(crate) fn serde_document_bytes<T: Serialize>(doc: &T) -> Result<Vec<u8>, yaml_serde::Error> {
    let mut buf = Vec::with_capacity(512);
    buf.extend_from_slice(b"---\n");
    yaml_serde::to_writer(&mut buf, doc)?;
    Ok(buf)
}

/// Write documents to `out` as one multi-document stream. Long streams are
/// emitted on all cores, each into its own buffer, then written in order.
pub(crate) fn write_documents<W: Write>(out: &mut W, docs: &[Mapping]) -> io::Result<()> {
    const PARALLEL_FROM: usize = 2000;
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    if docs.len() < PARALLEL_FROM || threads < 2 {
        return write_documents_iter(out, docs);
    }
    let per = docs.len().div_ceil(threads);
    let buffers: Vec<Result<Vec<u8>, yaml_serde::Error>> = std::thread::scope(|scope| {
        let handles: Vec<_> = docs
            .chunks(per)
            .map(|chunk| {
                scope.spawn(move || {
                    let mut buf = Vec::with_capacity(chunk.len() * 512);
                    for doc in chunk {
                        emit_document(&mut buf, doc)?;
                    }
                    Ok(buf)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Ok(Vec::new())))
            .collect()
    });
    for buf in buffers {
        out.write_all(&buf.map_err(io::Error::other)?)?;
    }
    out.flush()
}

fn indent(buf: &mut Vec<u8>, n: usize) {
    buf.resize(buf.len() + n, b' ');
}

/// A block mapping at `level` spaces. With `inline_first`, the first key
/// continues the current line (after `- `).
fn emit_mapping(buf: &mut Vec<u8>, map: &Mapping, level: usize, inline_first: bool) -> Option<()> {
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 || !inline_first {
            indent(buf, level);
        }
        match key {
            Value::String(s) => string(buf, s),
            Value::Number(n) => number(buf, n),
            Value::Bool(b) => buf.extend_from_slice(if *b { b"true" } else { b"false" }),
            _ => return None,
        }
        buf.push(b':');
        match value {
            Value::Mapping(m) if !m.is_empty() => {
                buf.push(b'\n');
                emit_mapping(buf, m, level + 2, false)?;
            }
            Value::Sequence(s) if !s.is_empty() => {
                buf.push(b'\n');
                emit_sequence(buf, s, level)?;
            }
            scalar => {
                buf.push(b' ');
                emit_scalar(buf, scalar)?;
                buf.push(b'\n');
            }
        }
    }
    Some(())
}

/// A block sequence whose dashes sit at `level` spaces.
fn emit_sequence(buf: &mut Vec<u8>, items: &[Value], level: usize) -> Option<()> {
    for item in items {
        indent(buf, level);
        buf.extend_from_slice(b"- ");
        match item {
            Value::Mapping(m) if !m.is_empty() => emit_mapping(buf, m, level + 2, true)?,
            Value::Sequence(s) if !s.is_empty() => return None,
            scalar => {
                emit_scalar(buf, scalar)?;
                buf.push(b'\n');
            }
        }
    }
    Some(())
}

fn emit_scalar(buf: &mut Vec<u8>, value: &Value) -> Option<()> {
    match value {
        Value::Null => buf.extend_from_slice(b"null"),
        Value::Bool(b) => buf.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => number(buf, n),
        Value::String(s) => string(buf, s),
        Value::Mapping(m) if m.is_empty() => buf.extend_from_slice(b"{}"),
        Value::Sequence(s) if s.is_empty() => buf.extend_from_slice(b"[]"),
        _ => return None,
    }
    Some(())
}

fn number(buf: &mut Vec<u8>, n: &Number) {
    if let Some(i) = n.as_i64() {
        buf.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
    } else if let Some(u) = n.as_u64() {
        buf.extend_from_slice(itoa::Buffer::new().format(u).as_bytes());
    } else {
        let f = n.as_f64().unwrap_or(f64::NAN);
        if f.is_nan() {
            buf.extend_from_slice(b".nan");
        } else if f.is_infinite() {
            buf.extend_from_slice(if f > 0.0 { b".inf" } else { b"-.inf" });
        } else {
            // Shortest round-trip form, with a `.0` on integral floats and
            // exponents for very large and small ones: `3.0`, `0.001`, `1e-10`.
            buf.extend_from_slice(ryu::Buffer::new().format_finite(f).as_bytes());
        }
    }
}

/// A string, plain when it cannot be read back as anything else, else
/// double-quoted with every character outside YAML's printable set escaped.
fn string(buf: &mut Vec<u8>, s: &str) {
    if is_plain_safe(s) {
        buf.extend_from_slice(s.as_bytes());
        return;
    }
    buf.push(b'"');
    for c in s.chars() {
        match c {
            '"' => buf.extend_from_slice(b"\\\""),
            '\\' => buf.extend_from_slice(b"\\\\"),
            '\n' => buf.extend_from_slice(b"\\n"),
            '\t' => buf.extend_from_slice(b"\\t"),
            '\r' => buf.extend_from_slice(b"\\r"),
            ' '..='~' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' if c != '\u{feff}' => {
                let mut tmp = [0u8; 4];
                buf.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
            }
            c if (c as u32) > 0xffff && (c as u32) <= 0x0010_ffff => {
                let mut tmp = [0u8; 4];
                buf.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
            }
            c => {
                let _ = write!(buf, "\\u{:04x}", c as u32);
            }
        }
    }
    buf.push(b'"');
}

fn is_plain_safe(s: &str) -> bool {
    let bytes = s.as_bytes();
    let Some(&first) = bytes.first() else {
        return false;
    };
    let path_like = first == b'.' && matches!(bytes.get(1), Some(b'/' | b'.'));
    if !(first.is_ascii_alphabetic() || first == b'_' || first == b'/' || path_like) {
        return false;
    }
    if bytes.last() == Some(&b' ') {
        return false;
    }
    if !bytes.iter().all(|&b| {
        b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'/' | b'-' | b' ' | b'+' | b'=')
    }) {
        return false;
    }
    if s.contains("  ") {
        return false;
    }
    // Words that YAML 1.1 or 1.2 read as booleans or null.
    s.len() > 5
        || !["true", "false", "yes", "no", "on", "off", "null"]
            .iter()
            .any(|w| w.eq_ignore_ascii_case(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn roundtrip(value: &Mapping) -> Mapping {
        let bytes = document_bytes(value).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn style_matches_block_yaml() {
        let doc: Mapping = yaml_serde::from_str(
            "Name: a\nnested: {x: 1, y: [1, 2]}\nlist: [{a: 1, b: 2}, 3]\ne: {}\nf: []\ns: 'yes'\nn: null\nfl: 3.0\n",
        )
        .unwrap();
        let text = String::from_utf8(document_bytes(&doc).unwrap()).unwrap();
        assert_eq!(
            text,
            "---\nName: a\nnested:\n  x: 1\n  y:\n  - 1\n  - 2\nlist:\n- a: 1\n  b: 2\n- 3\ne: {}\nf: []\ns: \"yes\"\nn: null\nfl: 3.0\n"
        );
        assert_eq!(roundtrip(&doc), doc);
    }

    fn value() -> impl Strategy<Value = Value> {
        let scalar = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,12}".prop_map(Value::from),
            "[a-zA-Z0-9 ._/:#'\"-]{0,10}".prop_map(Value::from),
            prop_oneof![
                Just("yes"),
                Just("No"),
                Just("~"),
                Just("1e3"),
                Just("0x1F"),
                Just(".inf"),
                Just("- a"),
                Just("a: b"),
                Just("a #b")
            ]
            .prop_map(Value::from),
        ];
        scalar.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Sequence),
                prop::collection::vec(("[a-zA-Z_ :0-9]{1,6}", inner), 0..4).prop_map(|kv| {
                    Value::Mapping(kv.into_iter().map(|(k, v)| (Value::from(k), v)).collect())
                }),
            ]
        })
    }

    proptest! {
        #[test]
        fn output_reads_back_as_the_same_value(
            entries in prop::collection::vec(("[a-zA-Z_0-9 .-]{1,8}", value()), 0..6)
        ) {
            let doc: Mapping = entries.into_iter().map(|(k, v)| (Value::from(k), v)).collect();
            let back = roundtrip(&doc);
            // NaN is never equal to itself; compare through the text.
            prop_assert_eq!(format!("{back:?}"), format!("{doc:?}"));
        }
    }
}
