//! `filter --format json|jsonl|csv|table` of whole documents (no
//! `--filter`, `--sort`, `--reverse`, `--keep-keys` or aggregation): each
//! document is parsed once. The general path (`query`, then `stream_out`)
//! parses a document once to check it and again to write it, and CSV and
//! tables scan it a third time for their columns; here one parse (the fast
//! reader with the checks of `yaml::fast::is_plain_mapping`) both checks a
//! document and turns it into output, on every core, in log order.
//!
//! Nothing is written until every document has been read, so that an
//! invalid log writes nothing, as in YAML and on the general path: JSON is
//! written to a spooled temporary file (in memory up to [`SPOOL_MEMORY`],
//! then in the temporary directory) and copied to the output at the end;
//! CSV and table rows are kept as their cells, compactly (about the size of
//! the CSV), until the columns — the union of every document's flattened
//! keys, in the order first seen — are known.
//!
//! A piece of a log that is not one document alone (most often an invalid
//! log) makes this give up: the general path then parses that log whole
//! and says where it is invalid.

use std::io::{self, Seek as _, Write};

use tempfile::SpooledTempFile;
use yaml_serde::{Mapping, Value};

use super::fast_out::{self, Cells, Kind, Names};
use super::format::{flatten, inline, mapping_to_json, write_csv_line, Cell};
use super::query::LogText;
use super::stream_out::{in_chunks_of, in_order, write_sampled, Pool};
use super::table::{write_table, Layout, Wide, SAMPLE_ROWS};
use crate::cli::Format;
use crate::yaml::stream::{parse_piece, split, Piece};

/// JSON output kept in memory before it goes to a temporary file.
const SPOOL_MEMORY: usize = 16 << 20;

/// Documents read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Count {
    pub(crate) documents: usize,
    /// Documents that are not mappings, left out.
    pub(crate) ignored: usize,
    /// A piece that is not one document alone was met.
    broken: bool,
}

impl Count {
    fn add(&mut self, other: Count) {
        self.documents += other.documents;
        self.ignored += other.ignored;
        self.broken |= other.broken;
    }
}

/// The logs read, ready to be written.
pub(crate) struct Read {
    pub(crate) count: Count,
    output: Output,
}

enum Output {
    /// The whole JSON output (an array's items only).
    Json { array: bool, spool: SpooledTempFile },
    /// The rows' cells, and the columns.
    Cells {
        csv: bool,
        columns: Vec<String>,
        chunks: Vec<Stored>,
    },
}

/// Read every document of `logs` for `format`; `None` when some piece is
/// not one document alone (or for YAML, which is copied as written).
pub(crate) fn read(logs: &[LogText], format: Format) -> io::Result<Option<Read>> {
    if format == Format::Yaml {
        return Ok(None);
    }
    let pieces: Vec<Piece<'_>> = match logs {
        [log] => split(&log.text),
        _ => logs.iter().flat_map(|log| split(&log.text)).collect(),
    };
    match format {
        Format::Json | Format::Jsonl => read_json(&pieces, format == Format::Json),
        _ => Ok(read_cells(&pieces, format == Format::Csv)),
    }
}

/// A piece the fast reader did not take: its value, read the authoritative
/// way.
enum Slow {
    Mapping(Mapping),
    /// A document that is not a mapping.
    Ignored,
    /// Not one document alone.
    Broken,
}

fn slow(piece: &Piece<'_>) -> Slow {
    match parse_piece(piece) {
        Ok(Some(Value::Mapping(map))) => Slow::Mapping(map),
        Ok(_) => Slow::Ignored,
        Err(_) => Slow::Broken,
    }
}

/// JSON lines, or (`array`) a JSON array with a document per line, as
/// `stream_out` writes them.
fn read_json(pieces: &[Piece<'_>], array: bool) -> io::Result<Option<Read>> {
    let pool = Pool::default();
    let render = |_, chunk: &[Piece<'_>]| -> io::Result<(Vec<u8>, Count)> {
        let mut buf = pool.take();
        let mut count = Count::default();
        for piece in chunk {
            count.documents += 1;
            let mark = buf.len();
            if array {
                buf.extend_from_slice(b",\n");
            }
            if !fast_out::json_checked(piece.text, &mut buf) {
                match slow(piece) {
                    Slow::Mapping(map) => serde_json::to_writer(&mut buf, &mapping_to_json(&map))?,
                    Slow::Ignored => {
                        count.ignored += 1;
                        buf.truncate(mark);
                        continue;
                    }
                    Slow::Broken => {
                        count.broken = true;
                        break;
                    }
                }
            }
            #[cfg(debug_assertions)]
            check_json(piece, &buf[mark + if array { 2 } else { 0 }..]);
            if !array {
                buf.push(b'\n');
            }
        }
        Ok((buf, count))
    };
    let mut spool = SpooledTempFile::new(SPOOL_MEMORY);
    let mut total = Count::default();
    let mut first = true;
    let done = in_order(pieces, render, |chunk| {
        let (bytes, count) = chunk?;
        total.add(count);
        if total.broken {
            return Err(io::Error::other("not one document"));
        }
        // The first document's comma goes.
        let skip = usize::from(array && first && !bytes.is_empty());
        first &= bytes.is_empty();
        spool.write_all(&bytes[skip..])?;
        pool.give(bytes);
        Ok(())
    });
    if total.broken {
        return Ok(None);
    }
    done?;
    spool.rewind()?;
    Ok(Some(Read {
        count: total,
        output: Output::Json { array, spool },
    }))
}

/// Debug builds check the one parse against the value on every document.
#[cfg(debug_assertions)]
fn check_json(piece: &Piece<'_>, written: &[u8]) {
    if let Slow::Mapping(map) = slow(piece) {
        let expected = serde_json::to_vec(&mapping_to_json(&map)).unwrap_or_default();
        assert_eq!(written, &expected[..], "one-pass JSON differs");
    }
}

/// One chunk's rows: for each, its length (`u32`, little-endian) and its
/// cells in the order the document gives them, each its local column and
/// kind (`column << 2 | kind`) and the length of its text (both LEB128),
/// then the text.
struct Stored {
    bytes: Vec<u8>,
    /// The chunk's columns (local index → the table's).
    columns: Vec<usize>,
    rows: usize,
    /// The table's index of the chunk's first row.
    first_row: usize,
}

/// Cells of one chunk as they are read.
struct Encoder<'a> {
    names: &'a mut Names,
    bytes: &'a mut Vec<u8>,
    /// The column of the cell before: the next is most often the one after
    /// it (the documents of a log mostly have their keys in one order).
    last: usize,
}

impl Cells for Encoder<'_> {
    fn set(&mut self, name: &str, kind: Kind, text: &mut String) {
        let next = self.last.wrapping_add(1);
        let column = match self.names.get_index(next) {
            Some((known, ())) if known == name => next,
            _ => match self.names.get_index_of(name) {
                Some(at) => at,
                None => self.names.insert_full(name.to_owned(), ()).0,
            },
        };
        self.last = column;
        push_var(self.bytes, column << 2 | kind as usize);
        push_var(self.bytes, text.len());
        self.bytes.extend_from_slice(text.as_bytes());
    }
}

/// `n` in LEB128: 7 bits a byte, low bits first, the high bit set on all
/// but the last byte (a cell's column and length take a byte each, mostly).
fn push_var(bytes: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        bytes.push((n & 0x7f) as u8 | 0x80);
        n >>= 7;
    }
    bytes.push(n as u8);
}

fn take_var(bytes: &mut &[u8]) -> usize {
    let mut n = 0;
    let mut shift = 0;
    while let Some((&byte, rest)) = bytes.split_first() {
        *bytes = rest;
        n |= usize::from(byte & 0x7f) << shift;
        shift += 7;
        if byte < 0x80 || shift >= usize::BITS as usize {
            break;
        }
    }
    n
}

/// A chunk's rows as cells, before the table's columns are known.
struct Chunk {
    bytes: Vec<u8>,
    names: Names,
    rows: usize,
    count: Count,
}

fn encode(chunk: &[Piece<'_>]) -> Chunk {
    // The cells take about half the text (sized once: growing a buffer by
    // doubling had the kernel zero twice the pages).
    let text: usize = chunk.iter().map(|p| p.text.len()).sum();
    let mut out = Chunk {
        bytes: Vec::with_capacity(text / 8 * 5),
        names: Names::default(),
        rows: 0,
        count: Count::default(),
    };
    for piece in chunk {
        out.count.documents += 1;
        let (mark, known) = (out.bytes.len(), out.names.len());
        out.bytes.extend_from_slice(&[0; 4]);
        let mut encoder = Encoder {
            names: &mut out.names,
            bytes: &mut out.bytes,
            last: usize::MAX,
        };
        if !fast_out::flatten_checked(piece.text, &mut encoder) {
            // What the fast reader wrote before it gave up goes, its new
            // columns too: the value gives them again, in its order.
            out.bytes.truncate(mark + 4);
            out.names.truncate(known);
            match slow(piece) {
                Slow::Mapping(map) => {
                    let mut encoder = Encoder {
                        names: &mut out.names,
                        bytes: &mut out.bytes,
                        last: usize::MAX,
                    };
                    for (name, value) in flatten(&map) {
                        let kind = match value {
                            Value::Null => Kind::Null,
                            Value::Number(_) => Kind::Number,
                            _ => Kind::Other,
                        };
                        encoder.set(&name, kind, &mut inline(&value));
                    }
                }
                Slow::Ignored => {
                    out.count.ignored += 1;
                    out.bytes.truncate(mark);
                    continue;
                }
                Slow::Broken => {
                    out.count.broken = true;
                    break;
                }
            }
        }
        let len = (out.bytes.len() - mark - 4) as u32;
        out.bytes[mark..mark + 4].copy_from_slice(&len.to_le_bytes());
        out.rows += 1;
    }
    if out.bytes.capacity() - out.bytes.len() > out.bytes.len() / 4 {
        out.bytes.shrink_to_fit();
    }
    out
}

fn read_cells(pieces: &[Piece<'_>], csv: bool) -> Option<Read> {
    let mut columns = Names::default();
    let mut chunks = Vec::new();
    let mut total = Count::default();
    let mut rows = 0;
    let done = in_order(
        pieces,
        |_, chunk| encode(chunk),
        |chunk| {
            total.add(chunk.count);
            if total.broken {
                return Err(io::Error::other("not one document"));
            }
            let local = chunk
                .names
                .into_keys()
                .map(|name| columns.insert_full(name, ()).0)
                .collect();
            chunks.push(Stored {
                bytes: chunk.bytes,
                columns: local,
                rows: chunk.rows,
                first_row: rows,
            });
            rows += chunk.rows;
            Ok(())
        },
    );
    (done.is_ok() && !total.broken).then(|| Read {
        count: total,
        output: Output::Cells {
            csv,
            columns: columns.into_keys().collect(),
            chunks,
        },
    })
}

/// One row's cells under the table's columns.
struct Row<'b> {
    texts: Vec<&'b str>,
    kinds: Vec<Kind>,
    set: Vec<usize>,
    /// Whether a null leaves a value already in its cell alone (as
    /// `fast_out::Row`: CSV keeps the value, a table shows the last).
    nulls_keep: bool,
}

impl<'b> Row<'b> {
    fn new(columns: usize, nulls_keep: bool) -> Self {
        Self {
            texts: vec![""; columns],
            kinds: vec![Kind::Missing; columns],
            set: Vec::new(),
            nulls_keep,
        }
    }

    /// Load the row stored in `bytes`, whose local columns are `columns`.
    fn load(&mut self, mut bytes: &'b [u8], columns: &[usize]) {
        for at in self.set.drain(..) {
            self.kinds[at] = Kind::Missing;
        }
        while !bytes.is_empty() {
            let tagged = take_var(&mut bytes);
            let (local, kind) = match tagged & 3 {
                1 => (tagged >> 2, Kind::Null),
                2 => (tagged >> 2, Kind::Number),
                _ => (tagged >> 2, Kind::Other),
            };
            let len = take_var(&mut bytes).min(bytes.len());
            let (text, rest) = bytes.split_at(len);
            bytes = rest;
            let Some(&at) = columns.get(local) else {
                continue;
            };
            if kind == Kind::Null && self.nulls_keep && self.kinds[at] != Kind::Missing {
                continue;
            }
            self.texts[at] = std::str::from_utf8(text).unwrap_or_default();
            self.kinds[at] = kind;
            self.set.push(at);
        }
    }

    fn cell(&self, at: usize) -> Option<(&'b str, bool)> {
        (self.kinds[at] != Kind::Missing).then(|| (self.texts[at], self.kinds[at] == Kind::Number))
    }

    fn cells(&self) -> Vec<Option<Cell>> {
        (0..self.texts.len())
            .map(|at| {
                self.cell(at).map(|(text, numeric)| Cell {
                    text: text.to_owned(),
                    numeric,
                })
            })
            .collect()
    }
}

/// The rows stored in a chunk's bytes.
fn rows(mut bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        if bytes.is_empty() {
            return None;
        }
        let (len, rest) = bytes.split_at(4.min(bytes.len()));
        let len = u32::from_le_bytes(len.try_into().unwrap_or_default()) as usize;
        let (row, rest) = rest.split_at(len.min(rest.len()));
        bytes = rest;
        Some(row)
    })
}

impl Read {
    /// Write the output; returns the number of table panels (1 for other
    /// formats) and the cells of a streamed table wider than its columns.
    pub(crate) fn write(self, out: &mut dyn Write, layout: Layout) -> io::Result<(usize, Wide)> {
        match self.output {
            Output::Json { array, mut spool } => {
                if array {
                    out.write_all(b"[")?;
                }
                io::copy(&mut spool, out)?;
                if array {
                    out.write_all(b"\n]\n")?;
                }
                Ok((1, Wide::default()))
            }
            Output::Cells {
                csv: true,
                columns,
                chunks,
            } => write_csv(out, &columns, &chunks).map(|()| (1, Wide::default())),
            Output::Cells {
                csv: false,
                columns,
                chunks,
            } => write_rows(out, &columns, &chunks, layout),
        }
    }
}

fn write_csv(out: &mut dyn Write, columns: &[String], chunks: &[Stored]) -> io::Result<()> {
    write_csv_line(&mut &mut *out, columns.iter().map(String::as_str))?;
    let pool = Pool::default();
    let lines = |_, chunk: &[Stored]| -> io::Result<Vec<u8>> {
        let mut buf = pool.take();
        let mut row = Row::new(columns.len(), true);
        for stored in chunk {
            for bytes in rows(&stored.bytes) {
                row.load(bytes, &stored.columns);
                let fields = row.texts.iter().zip(&row.kinds).map(|(text, kind)| {
                    if matches!(kind, Kind::Missing | Kind::Null) {
                        ""
                    } else {
                        *text
                    }
                });
                write_csv_line(&mut buf, fields)?;
            }
        }
        Ok(buf)
    };
    in_chunks_of(1, chunks, lines, |bytes| {
        let bytes = bytes?;
        out.write_all(&bytes)?;
        pool.give(bytes);
        Ok(())
    })
}

/// A table: whole by `comfy-table` up to `SAMPLE_ROWS` rows, else sized on
/// the first `SAMPLE_ROWS` and streamed, as `stream_out` writes it.
fn write_rows(
    out: &mut dyn Write,
    columns: &[String],
    chunks: &[Stored],
    layout: Layout,
) -> io::Result<(usize, Wide)> {
    let total: usize = chunks.iter().map(|c| c.rows).sum();
    let mut sample = Vec::with_capacity(total.min(SAMPLE_ROWS));
    let mut row = Row::new(columns.len(), false);
    'sample: for stored in chunks {
        for bytes in rows(&stored.bytes) {
            if sample.len() == SAMPLE_ROWS {
                break 'sample;
            }
            row.load(bytes, &stored.columns);
            sample.push(row.cells());
        }
    }
    if total <= SAMPLE_ROWS {
        let panels = write_table(&mut &mut *out, columns, &sample, layout)?;
        return Ok((panels, Wide::default()));
    }
    write_sampled(
        out,
        columns,
        &sample,
        total,
        layout,
        (1, chunks),
        |format, _, chunk, text, wide| {
            let mut row = Row::new(columns.len(), false);
            for stored in chunk {
                for (r, bytes) in rows(&stored.bytes).enumerate() {
                    let number = stored.first_row + r + 1;
                    if number > SAMPLE_ROWS {
                        row.load(bytes, &stored.columns);
                        format.write_row(text, number, |i| row.cell(i), wide);
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        let numbers = [0, 1, 0x7f, 0x80, 300, 1 << 20, u32::MAX as usize];
        let mut bytes = Vec::new();
        for n in numbers {
            push_var(&mut bytes, n);
        }
        assert_eq!(bytes[..3], [0, 1, 0x7f]);
        let mut rest = &bytes[..];
        let read: Vec<usize> = numbers.iter().map(|_| take_var(&mut rest)).collect();
        assert_eq!(read, numbers);
        assert!(rest.is_empty());
        // A cut value ends the row instead of reading past it.
        assert_eq!(take_var(&mut &[0x80_u8][..]), 0);
    }

    #[test]
    fn a_stored_row_keeps_its_cells_and_the_null_rule() {
        let mut names = Names::default();
        let mut bytes = Vec::new();
        let mut encoder = Encoder {
            names: &mut names,
            bytes: &mut bytes,
            last: usize::MAX,
        };
        encoder.set("a.b", Kind::Number, &mut "1".to_owned());
        encoder.set("x", Kind::Other, &mut "学".to_owned());
        encoder.set("a.b", Kind::Null, &mut "null".to_owned());
        let columns = [1, 0];
        let mut csv = Row::new(2, true);
        csv.load(&bytes, &columns);
        assert_eq!(csv.cell(1), Some(("1", true)));
        assert_eq!(csv.cell(0), Some(("学", false)));
        let mut table = Row::new(2, false);
        table.load(&bytes, &columns);
        assert_eq!(table.cell(1), Some(("null", false)));
        table.load(&[], &columns);
        assert_eq!(table.cell(0), None);
    }
}
