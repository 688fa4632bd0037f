//! `filter --format json|jsonl|csv|table` without aggregation: the kept
//! documents are written one at a time, each read again from its text in
//! the log as it is written, so that memory does not grow with the number
//! of documents (a parsed document costs about 25 times its text).
//! Documents of the plain subset are written straight from the fast
//! reader's events (`fast_out`), the others from their `yaml_serde` value.
//! CSV and tables take two passes over the kept documents: the first
//! collects the columns (the union of every document's flattened keys, in
//! the order first seen; a scan of the keys), the second writes the rows.
//! A table of more than `table::SAMPLE_ROWS` rows is sized on its first
//! `SAMPLE_ROWS` rows and streamed; a shorter one is kept as cells (text)
//! and drawn by `comfy-table`.

use std::borrow::Cow;
use std::io::{self, Write};
use std::sync::Mutex;

use yaml_serde::{Mapping, Value};

use super::fast_out::{self, Kind, Names, Row};
use super::format::{flatten, inline, mapping_to_json, project, write_csv_line, Cell, Rows};
use super::query::Record;
use super::table::{sampled_panels, write_table, Layout, PanelFormat, Wide, SAMPLE_ROWS};
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
    /// Cells of a streamed table wider than its sampled widths (for the
    /// note).
    pub(crate) wide: Mutex<Wide>,
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

    /// The text of a kept document the fast writers can write straight
    /// from: one the fast reader accepted in the selection (no value kept),
    /// written whole (no `--keep-keys`).
    fn plain_text<'r>(&self, record: &'r Record<'_>) -> Option<&'r str> {
        match (&record.doc, record.source) {
            (None, Some(piece)) if self.keep.is_empty() => Some(piece.text),
            _ => None,
        }
    }

    /// Write `records`; returns the number of table panels (1 for other
    /// formats).
    pub(crate) fn write(&self, out: &mut dyn Write, records: &[Record<'_>]) -> io::Result<usize> {
        match self.format {
            Format::Jsonl => {
                let pool = Pool::default();
                in_order(
                    records,
                    |_, chunk| self.render(chunk, b"", &pool),
                    |bytes| {
                        let bytes = bytes?;
                        out.write_all(&bytes)?;
                        pool.give(bytes);
                        Ok(())
                    },
                )?;
            }
            Format::Json => {
                // Every document comes after ",\n"; the first one's comma goes.
                out.write_all(b"[")?;
                let mut first = true;
                let pool = Pool::default();
                in_order(
                    records,
                    |_, chunk| self.render(chunk, b",", &pool),
                    |bytes| {
                        let bytes = bytes?;
                        let skip = usize::from(first && !bytes.is_empty());
                        first &= bytes.is_empty();
                        out.write_all(&bytes[skip..])?;
                        pool.give(bytes);
                        Ok(())
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
    fn render(&self, chunk: &[Record<'_>], before: &[u8], pool: &Pool) -> io::Result<Vec<u8>> {
        let mut buf = pool.take();
        for record in chunk {
            let mark = buf.len();
            buf.extend_from_slice(before);
            if !before.is_empty() {
                buf.push(b'\n');
            }
            let body = buf.len();
            let fast = self
                .plain_text(record)
                .is_some_and(|text| fast_out::json(text, &mut buf));
            if !fast {
                let Some(doc) = self.value(record) else {
                    buf.truncate(mark);
                    continue;
                };
                serde_json::to_writer(&mut buf, &mapping_to_json(&doc))?;
            }
            // Debug builds check the fast writer against
            // the values on every document.
            #[cfg(debug_assertions)]
            if fast {
                if let Some(doc) = self.value(record) {
                    let slow = serde_json::to_vec(&mapping_to_json(&doc))?;
                    assert_eq!(buf[body..], slow[..], "fast JSON differs");
                }
            }
            let _ = body;
            if before.is_empty() {
                buf.push(b'\n');
            }
        }
        Ok(buf)
    }

    /// A kept document's cells under `row`'s columns: by the fast reader
    /// when it can, else from its value. `false` when it has no value.
    fn fill(&self, record: &Record<'_>, row: &mut Row) -> bool {
        if self.plain_text(record).is_some_and(|text| row.fill(text)) {
            return true;
        }
        let Some(doc) = self.value(record) else {
            return false;
        };
        row.kinds.fill(Kind::Missing);
        for (name, value) in flatten(&doc) {
            let kind = match value {
                Value::Null => Kind::Null,
                Value::Number(_) => Kind::Number,
                _ => Kind::Other,
            };
            row.set(&name, kind, &mut inline(&value));
        }
        true
    }

    /// The columns of `records`, in the order `Rows` gives them.
    fn columns(&self, records: &[Record<'_>]) -> Vec<String> {
        let mut columns = Names::default();
        let seen = |_, chunk: &[Record<'_>]| {
            let mut names = Names::default();
            for record in chunk {
                if let Some(text) = self.plain_text(record) {
                    fast_out::columns(text, &mut names);
                    // Debug builds check the scan against
                    // the parsed value on every document.
                    #[cfg(debug_assertions)]
                    {
                        let mut scanned = Names::default();
                        fast_out::columns(text, &mut scanned);
                        let parsed: Vec<String> = self
                            .value(record)
                            .map(|doc| flatten(&doc).into_iter().map(|(n, _)| n).collect())
                            .unwrap_or_default();
                        let mut unique = Names::default();
                        unique.extend(parsed.into_iter().map(|n| (n, ())));
                        assert!(scanned.keys().eq(unique.keys()), "column scan differs");
                    }
                } else if let Some(doc) = self.value(record) {
                    for (name, _) in flatten(&doc) {
                        names.insert(name, ());
                    }
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
        write_csv_line(&mut &mut *out, columns.iter().map(String::as_str))?;
        let pool = Pool::default();
        let rows = |_, chunk: &[Record<'_>]| -> io::Result<Vec<u8>> {
            let mut buf = pool.take();
            let mut row = Row::new(&columns, true);
            for record in chunk {
                if !self.fill(record, &mut row) {
                    continue;
                }
                let fields = row.texts.iter().zip(&row.kinds).map(|(text, kind)| {
                    if matches!(kind, Kind::Missing | Kind::Null) {
                        ""
                    } else {
                        text.as_str()
                    }
                });
                write_csv_line(&mut buf, fields)?;
            }
            Ok(buf)
        };
        in_order(records, rows, |bytes| {
            let bytes = bytes?;
            out.write_all(&bytes)?;
            pool.give(bytes);
            Ok(())
        })
    }

    /// The cells of `records` (those with a value).
    fn cells(&self, records: &[Record<'_>], columns: &[String]) -> Vec<Vec<Option<Cell>>> {
        let mut row = Row::new(columns, false);
        let mut cells = Vec::with_capacity(records.len());
        for record in records {
            if self.fill(record, &mut row) {
                cells.push(row.cells());
            }
        }
        cells
    }

    /// A table: whole by `comfy-table` up to `SAMPLE_ROWS` rows, else sized
    /// on the first `SAMPLE_ROWS` and streamed (`table::PanelFormat`).
    fn write_table(&self, out: &mut dyn Write, records: &[Record<'_>]) -> io::Result<usize> {
        let columns = self.columns(records);
        if records.len() <= SAMPLE_ROWS {
            let cells = self.cells(records, &columns);
            return write_table(&mut &mut *out, &columns, &cells, self.layout);
        }
        let sample = self.cells(&records[..SAMPLE_ROWS], &columns);
        let rest = &records[SAMPLE_ROWS..];
        let (panels, wide) = write_sampled(
            out,
            &columns,
            &sample,
            records.len(),
            self.layout,
            (CHUNK, rest),
            |format, start, chunk, text, wide| {
                let mut row = Row::new(&columns, false);
                for (r, record) in chunk.iter().enumerate() {
                    if self.fill(record, &mut row) {
                        let number = SAMPLE_ROWS + start + r + 1;
                        format.write_row(text, number, |i| row.cell(i), wide);
                    }
                }
            },
        )?;
        if let Ok(mut total) = self.wide.lock() {
            *total = wide;
        }
        Ok(panels)
    }

    /// `note: ...` when a streamed table had cells wider than the rows it
    /// was sized on.
    pub(crate) fn wide_note(&self) -> Option<String> {
        self.wide.lock().ok()?.note()
    }
}

/// A table of `total` rows sized on `sample`, its first rows (see
/// `table::PanelFormat`): per panel, its header and the sample's rows, then
/// the later rows, rendered on every core by `later(format, index of the
/// chunk's first item, chunk, text, wide)` over `items` in chunks of `per`
/// and written in order. Returns the number of panels and the cells wider
/// than their column.
pub(crate) fn write_sampled<I: Sync>(
    out: &mut dyn Write,
    columns: &[String],
    sample: &[Vec<Option<Cell>>],
    total: usize,
    layout: Layout,
    (per, items): (usize, &[I]),
    later: impl Fn(&PanelFormat, usize, &[I], &mut String, &mut Wide) + Sync,
) -> io::Result<(usize, Wide)> {
    let formats = sampled_panels(columns, sample, total, layout);
    let mut wide = Wide::default();
    let pool = Pool::default();
    for (p, format) in formats.iter().enumerate() {
        if p > 0 {
            out.write_all(b"\n")?;
        }
        let mut text = format.header(columns);
        for (r, cells) in sample.iter().enumerate() {
            format.write_row(
                &mut text,
                r + 1,
                |i| cells[i].as_ref().map(|c| (c.text.as_str(), c.numeric)),
                &mut wide,
            );
        }
        out.write_all(text.as_bytes())?;
        let render = |start: usize, chunk: &[I]| {
            let mut text = String::from_utf8(pool.take()).unwrap_or_default();
            let mut wide = Wide::default();
            later(format, start, chunk, &mut text, &mut wide);
            (text, wide)
        };
        in_chunks_of(per, items, render, |(text, chunk_wide)| {
            wide.add(chunk_wide);
            out.write_all(text.as_bytes())?;
            pool.give(text.into_bytes());
            Ok(())
        })?;
    }
    Ok((formats.len(), wide))
}

/// Output buffers handed back once written, for the next chunks, rather
/// than a fresh half-megabyte buffer per chunk of 1,024 documents (no
/// measurable difference on `bench/scale.sh`'s log on this machine; it
/// keeps the buffers' pages from going back and forth to the allocator).
#[derive(Default)]
pub(crate) struct Pool(std::sync::Mutex<Vec<Vec<u8>>>);

impl Pool {
    pub(crate) fn take(&self) -> Vec<u8> {
        self.0
            .lock()
            .ok()
            .and_then(|mut free| free.pop())
            .unwrap_or_else(|| Vec::with_capacity(1 << 19))
    }

    pub(crate) fn give(&self, mut buf: Vec<u8>) {
        buf.clear();
        if let Ok(mut free) = self.0.lock() {
            free.push(buf);
        }
    }
}

/// Records per piece of work handed to a thread.
const CHUNK: usize = 1024;

/// Apply `work` to consecutive chunks of `records` (and the index of their
/// first record) on every core and hand
/// the results to `consume` in order (a chunk's result waits in a small
/// reorder buffer when a later one is done first). `consume` failing stops
/// the work.
pub(crate) fn in_order<I: Sync, T: Send>(
    records: &[I],
    work: impl Fn(usize, &[I]) -> T + Sync,
    consume: impl FnMut(T) -> io::Result<()>,
) -> io::Result<()> {
    in_chunks_of(CHUNK, records, work, consume)
}

/// [`in_order`] with chunks of `per` items.
pub(crate) fn in_chunks_of<I: Sync, T: Send>(
    per: usize,
    records: &[I],
    work: impl Fn(usize, &[I]) -> T + Sync,
    mut consume: impl FnMut(T) -> io::Result<()>,
) -> io::Result<()> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunks: Vec<&[I]> = records.chunks(per.max(1)).collect();
    if threads == 1 || chunks.len() <= 1 {
        return chunks
            .into_iter()
            .enumerate()
            .try_for_each(|(at, chunk)| consume(work(at * per, chunk)));
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
                if tx.send((at, work(at * per, chunk))).is_err() {
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
