//! `filter --format json|jsonl|csv|table` without aggregation: the kept
//! documents are written one at a time, each parsed again from its text in
//! the log as it is written and freed at once, so that memory does not
//! grow with the number of documents (a parsed document costs about 25
//! times its text). CSV takes two passes over the kept documents: the
//! first collects the columns (the union of every document's flattened
//! keys, in the order first seen), the second writes the rows. A table
//! needs every cell to size its columns: its rows are kept as cells (text),
//! never as parsed documents.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, Write};

use indexmap::IndexMap;
use yaml_serde::{Mapping, Value};

use super::format::{flatten, inline, mapping_to_json, project, write_csv_line, Cell, Rows};
use super::query::Record;
use super::table::{write_table, Layout};
use crate::cli::Format;
use crate::yaml::fast as yaml_fast;

/// What the documents are written as.
pub(crate) struct Output<'a> {
    pub(crate) format: Format,
    /// `--keep-keys`: only these keys, in this order.
    pub(crate) keep: &'a [String],
    /// The top-level keys the output needs (`None`: all).
    pub(crate) value_keys: Option<&'a [String]>,
    pub(crate) layout: Layout,
}

impl Output<'_> {
    /// A kept document's value: the one the query kept, or its text parsed
    /// again (only the keys the output needs).
    fn value<'r>(&self, record: &'r Record<'_>) -> Option<Cow<'r, Mapping>> {
        let doc = match (&record.doc, record.source) {
            (Some(doc), _) => Cow::Borrowed(doc),
            (None, Some(piece)) => {
                let fast = match self.value_keys {
                    Some(keys) => yaml_fast::parse_mapping_keys(piece.text, keys),
                    None => yaml_fast::parse_mapping(piece.text),
                };
                let parsed = fast.or_else(|| match yaml_serde::from_str(piece.text) {
                    Ok(Value::Mapping(map)) => Some(map),
                    _ => None,
                })?;
                Cow::Owned(parsed)
            }
            (None, None) => return None,
        };
        Some(if self.keep.is_empty() {
            doc
        } else {
            Cow::Owned(project(&doc, self.keep))
        })
    }

    /// Write `records`; returns the number of table panels (1 for other
    /// formats).
    pub(crate) fn write(&self, out: &mut dyn Write, records: &[Record<'_>]) -> io::Result<usize> {
        match self.format {
            Format::Jsonl => in_order(
                records,
                |chunk| self.render(chunk, b""),
                |bytes| out.write_all(&bytes?),
            )?,
            Format::Json => {
                // Every document comes after ",\n"; the first one's comma goes.
                out.write_all(b"[")?;
                let mut first = true;
                in_order(
                    records,
                    |chunk| self.render(chunk, b","),
                    |bytes| {
                        let bytes = bytes?;
                        let skip = usize::from(first && !bytes.is_empty());
                        first &= bytes.is_empty();
                        out.write_all(&bytes[skip..])
                    },
                )?;
                out.write_all(b"\n]\n")?;
            }
            Format::Csv => self.write_csv(out, records)?,
            Format::Table => return self.write_table(out, records),
            Format::Yaml => {
                for doc in records.iter().filter_map(|r| self.value(r)) {
                    let bytes =
                        crate::yaml::write::document_bytes(&doc).map_err(io::Error::other)?;
                    out.write_all(&bytes)?;
                }
            }
        }
        Ok(1)
    }

    /// A chunk of documents as JSON, one per line, each after `before`.
    fn render(&self, chunk: &[Record<'_>], before: &[u8]) -> io::Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(chunk.len() * 512);
        for doc in chunk.iter().filter_map(|r| self.value(r)) {
            buf.extend_from_slice(before);
            if !before.is_empty() {
                buf.push(b'\n');
            }
            serde_json::to_writer(&mut buf, &mapping_to_json(&doc))?;
            if before.is_empty() {
                buf.push(b'\n');
            }
        }
        Ok(buf)
    }

    /// The columns of `records`, in the order `Rows` gives them.
    fn columns(&self, records: &[Record<'_>]) -> Vec<String> {
        let mut columns: IndexMap<String, ()> = IndexMap::new();
        let seen = |chunk: &[Record<'_>]| {
            let mut names: IndexMap<String, ()> = IndexMap::new();
            for doc in chunk.iter().filter_map(|r| self.value(r)) {
                for (name, _) in flatten(&doc) {
                    names.insert(name, ());
                }
            }
            names
        };
        let merged = in_order(records, seen, |names| {
            columns.extend(names);
            Ok(())
        });
        debug_assert!(merged.is_ok(), "merging names cannot fail");
        let rows = Rows {
            columns: columns.into_keys().collect(),
            rows: Vec::new(),
        };
        if self.keep.is_empty() {
            rows.columns
        } else {
            rows.in_order(self.keep).columns
        }
    }

    fn write_csv(&self, out: &mut dyn Write, records: &[Record<'_>]) -> io::Result<()> {
        let columns = self.columns(records);
        let at: HashMap<&str, usize> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i))
            .collect();
        write_csv_line(&mut &mut *out, columns.iter().map(String::as_str))?;
        let rows = |chunk: &[Record<'_>]| -> io::Result<Vec<u8>> {
            let mut buf = Vec::with_capacity(chunk.len() * 256);
            let mut fields = vec![String::new(); columns.len()];
            for doc in chunk.iter().filter_map(|r| self.value(r)) {
                fields.iter_mut().for_each(String::clear);
                for (name, value) in flatten(&doc) {
                    if let (Some(&i), false) = (at.get(name.as_str()), value.is_null()) {
                        fields[i] = inline(&value);
                    }
                }
                write_csv_line(&mut buf, fields.iter().map(String::as_str))?;
            }
            Ok(buf)
        };
        in_order(records, rows, |bytes| out.write_all(&bytes?))
    }

    fn write_table(&self, out: &mut dyn Write, records: &[Record<'_>]) -> io::Result<usize> {
        let columns = self.columns(records);
        let at: HashMap<&str, usize> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i))
            .collect();
        let cells: Vec<Vec<Option<Cell>>> = records
            .iter()
            .filter_map(|r| self.value(r))
            .map(|doc| {
                let mut row = vec![None; columns.len()];
                for (name, value) in flatten(&doc) {
                    if let Some(&i) = at.get(name.as_str()) {
                        row[i] = Some(Cell::of(&value));
                    }
                }
                row
            })
            .collect();
        write_table(&mut &mut *out, &columns, &cells, self.layout)
    }
}

/// Records per piece of work handed to a thread.
const CHUNK: usize = 1024;

/// Apply `work` to consecutive chunks of `records` on every core and hand
/// the results to `consume` in order (a chunk's result waits in a small
/// reorder buffer when a later one is done first). `consume` failing stops
/// the work.
fn in_order<T: Send>(
    records: &[Record<'_>],
    work: impl Fn(&[Record<'_>]) -> T + Sync,
    mut consume: impl FnMut(T) -> io::Result<()>,
) -> io::Result<()> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunks: Vec<&[Record<'_>]> = records.chunks(CHUNK).collect();
    if threads == 1 || chunks.len() <= 1 {
        return chunks
            .into_iter()
            .try_for_each(|chunk| consume(work(chunk)));
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, T)>(threads * 2);
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, chunks, work) = (&next, &chunks, &work);
            scope.spawn(move || loop {
                let at = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(chunk) = chunks.get(at) else {
                    break;
                };
                if tx.send((at, work(chunk))).is_err() {
                    break; // the consumer failed
                }
            });
        }
        drop(tx);
        let mut waiting = std::collections::BTreeMap::new();
        let mut wanted = 0;
        for (at, result) in rx {
            waiting.insert(at, result);
            while let Some(result) = waiting.remove(&wanted) {
                consume(result)?;
                wanted += 1;
            }
        }
        Ok(())
    })
}
