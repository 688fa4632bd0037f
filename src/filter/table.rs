//! The terminal table of `filter --format table` (and of `--group-by`),
//! drawn by `comfy-table`: widths in terminal columns (a Japanese `Name`
//! takes two per character), numbers right-aligned, missing cells empty.
//!
//! A table wider than the terminal (or `--width`) is never wrapped by the
//! terminal, nor are columns dropped: it is cut into panels of whole
//! columns, one under the other, each with the row number `#` first so that
//! rows can be matched. Without `--keep-keys` the parameters (lower-case
//! and `Capitalised` keys) and the results (UPPER-CASE keys, the
//! convention of the experiment files) go to separate panels; with
//! `--keep-keys` and for aggregated tables the columns keep their order.
//! A cell wider than a panel can hold is cut with `…`.
//!
//! Speed: on `bench/query.sh`'s collected log, `--filter 'exp.sparsity >=
//! 0.5' --format table` (50,000 rows, 14 columns) took 5.8 s of CPU with
//! `comfy-table` against 3.5 s with the hand-written writer it replaced
//! (release builds, same machine); both are dominated by building the rows,
//! and a table is for reading, so the crate stays. `--format csv` is the
//! fast path for large outputs. A table of more than `SAMPLE_ROWS` rows
//! (`filter` without `--group-by`) is streamed instead, its rows written
//! by hand to the widths of the first rows: see [`PanelFormat`].

use std::borrow::Cow;
use std::io::{self, Write};

use comfy_table::{CellAlignment, ContentArrangement, Table};
use unicode_width::UnicodeWidthStr;

use super::format::Cell;

/// How the table may be laid out.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Layout {
    /// The width to fit, in terminal columns; `None`: any width.
    pub(crate) width: Option<usize>,
    /// Split parameters from results (when the columns are not in an order
    /// asked for).
    pub(crate) by_kind: bool,
}

/// Blanks between columns.
const GAP: usize = 2;
/// A panel's cells are cut to what it can hold, but never below this.
const MIN_CELL: usize = 8;

/// Whether `key` is a result: UPPER-CASE (`ACC`, `TIME_ELAPSED`, `ACC.top1`).
pub(crate) fn is_result_key(key: &str) -> bool {
    let head = key.split('.').next().unwrap_or(key);
    head.chars().any(|c| c.is_ascii_uppercase()) && !head.chars().any(char::is_lowercase)
}

/// Write `rows` under `columns`; returns how many panels it took.
pub(crate) fn write_table(
    out: &mut impl Write,
    columns: &[String],
    rows: &[Vec<Option<Cell>>],
    layout: Layout,
) -> io::Result<usize> {
    let widths = column_widths(columns, rows);
    let panels = panel_columns(columns, &widths, rows.len(), layout);
    let numbered = panels.len() > 1;
    for (p, panel) in panels.iter().enumerate() {
        if p > 0 {
            writeln!(out)?;
        }
        let number_width = if numbered {
            rows.len().to_string().len().max(1)
        } else {
            0
        };
        let limit = panel_limit(layout, number_width, panel.len());
        let table = panel_table(columns, rows, panel, numbered, limit);
        writeln!(out, "{}", table.trim_fmt())?;
    }
    Ok(panels.len())
}

/// Each column's width: its widest cell or its name.
fn column_widths(columns: &[String], rows: &[Vec<Option<Cell>>]) -> Vec<usize> {
    (0..columns.len())
        .map(|i| {
            rows.iter()
                .filter_map(|r| r[i].as_ref())
                .map(|c| c.text.width())
                .fold(columns[i].width(), usize::max)
        })
        .collect()
}

/// The columns of each panel (one panel when the table fits).
fn panel_columns(
    columns: &[String],
    widths: &[usize],
    rows: usize,
    layout: Layout,
) -> Vec<Vec<usize>> {
    let total = widths.iter().sum::<usize>() + GAP * columns.len().saturating_sub(1);
    match layout.width {
        Some(width) if total > width && !columns.is_empty() => {
            panels(columns, widths, rows, width, layout.by_kind)
        }
        _ => vec![(0..columns.len()).collect()],
    }
}

/// The width a panel's cells are cut to.
fn panel_limit(layout: Layout, number_width: usize, columns: usize) -> Option<usize> {
    layout.width.map(|width| {
        let others: usize = number_width + GAP * columns;
        width.saturating_sub(others).max(MIN_CELL)
    })
}

/// The columns of each panel: greedy runs of whole columns that fit
/// `width` after the row number; parameters and results apart when
/// `by_kind`.
fn panels(
    columns: &[String],
    widths: &[usize],
    rows: usize,
    width: usize,
    by_kind: bool,
) -> Vec<Vec<usize>> {
    let number = rows.to_string().len().max(1);
    let order: Vec<usize> = if by_kind {
        let (results, params): (Vec<usize>, Vec<usize>) =
            (0..columns.len()).partition(|&i| is_result_key(&columns[i]));
        params.into_iter().chain(results).collect()
    } else {
        (0..columns.len()).collect()
    };
    let mut panels: Vec<Vec<usize>> = Vec::new();
    let mut used = 0;
    for i in order {
        let kind_changes = by_kind
            && panels
                .last()
                .and_then(|p| p.last())
                .is_some_and(|&last| is_result_key(&columns[last]) != is_result_key(&columns[i]));
        let needed = GAP + widths[i];
        match panels.last_mut() {
            Some(panel) if !kind_changes && used + needed <= width => {
                panel.push(i);
                used += needed;
            }
            _ => {
                panels.push(vec![i]);
                used = number + needed;
            }
        }
    }
    panels
}

/// One panel as a `comfy-table` table: no borders, a rule of dashes as
/// wide as each column under the header, two blanks between columns.
fn panel_table(
    columns: &[String],
    rows: &[Vec<Option<Cell>>],
    panel: &[usize],
    numbered: bool,
    limit: Option<usize>,
) -> Table {
    let cut = |text: &str| limit.map_or_else(|| text.to_owned(), |w| truncate(text, w));
    let mut header: Vec<String> = Vec::with_capacity(panel.len() + 1);
    let mut right: Vec<bool> = Vec::with_capacity(panel.len() + 1);
    if numbered {
        header.push("#".to_owned());
        right.push(true);
    }
    for &i in panel {
        header.push(cut(&columns[i]));
        right.push(rows.iter().filter_map(|r| r[i].as_ref()).all(|c| c.numeric));
    }
    let body: Vec<Vec<String>> = rows
        .iter()
        .enumerate()
        .map(|(r, row)| {
            let number = numbered.then(|| (r + 1).to_string());
            number
                .into_iter()
                .chain(
                    panel
                        .iter()
                        .map(|&i| row[i].as_ref().map_or_else(String::new, |c| cut(&c.text))),
                )
                .collect()
        })
        .collect();
    let rule: Vec<String> = (0..header.len())
        .map(|c| {
            let width = body
                .iter()
                .map(|r| r[c].width())
                .fold(header[c].width(), usize::max);
            "-".repeat(width)
        })
        .collect();
    let mut table = Table::new();
    table
        .load_style(comfy_table::presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header)
        .add_row(rule)
        .add_rows(body);
    let last = right.len().saturating_sub(1);
    for (c, (column, right)) in table.column_iter_mut().zip(right).enumerate() {
        column.set_padding((0, if c == last { 0 } else { GAP as u16 }));
        if right {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    table
}

/// A plain `filter --format table` of more rows than this is sized on its
/// first `SAMPLE_ROWS` rows and then streamed: its rows are never all kept.
pub(crate) const SAMPLE_ROWS: usize = 1000;

/// How the rows of one panel of a streamed table are written: column
/// widths and alignment from the sample (and the header), later cells
/// wider than their column cut with `…`.
///
/// Written by hand rather than by `comfy-table`, which needs every row of
/// a table before it writes the first: on `bench/scale.sh`'s 100,000-row
/// log (`filter log.yaml --format table --width 0`, in one run) the whole
/// command took 5.28 s of CPU and 782 MB with every row kept for
/// `comfy-table`, and 0.97 s and 110 MB streamed by this (with the fast
/// reader's cells; the rows alone cost about a tenth of that). It writes
/// exactly what `comfy-table` writes for the same widths (a property test
/// below); tables of up to `SAMPLE_ROWS` rows, and the `--group-by`
/// table, still go to `comfy-table`.
pub(crate) struct PanelFormat {
    /// The panel's columns (indices into the table's).
    panel: Vec<usize>,
    numbered: bool,
    /// Cut every cell to this width first (the width of the terminal).
    limit: Option<usize>,
    /// Per written column, `#` first when numbered.
    widths: Vec<usize>,
    right: Vec<bool>,
}

/// Cells of a streamed table wider than their column.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Wide {
    /// Text cut with `…`.
    pub(crate) cut: usize,
    /// Numbers written whole.
    pub(crate) numbers: usize,
}

impl Wide {
    pub(crate) fn add(&mut self, other: Wide) {
        self.cut += other.cut;
        self.numbers += other.numbers;
    }

    /// `note: ...` on stderr, when there were such cells.
    pub(crate) fn note(self) -> Option<String> {
        let plural = |n: usize, one: &str, many: &str| {
            format!("{n} later {}", if n == 1 { one } else { many })
        };
        let mut parts = Vec::new();
        if self.cut > 0 {
            parts.push(format!(
                "{} cut with `…`",
                plural(
                    self.cut,
                    "text wider than its column was",
                    "texts wider than their column were"
                )
            ));
        }
        if self.numbers > 0 {
            parts.push(format!(
                "{} written whole, out of line",
                plural(
                    self.numbers,
                    "number wider than its column was",
                    "numbers wider than their column were"
                )
            ));
        }
        (!parts.is_empty()).then(|| {
            format!(
                "note: the table's column widths were taken from its first {SAMPLE_ROWS} rows; \
                 {} (`--format csv` keeps every value whole and in its column)",
                parts.join(", ")
            )
        })
    }
}

/// The panels of a table of `total` rows, sized on `sample` (its first
/// rows), as [`write_table`] would lay out a table of `sample` alone.
pub(crate) fn sampled_panels(
    columns: &[String],
    sample: &[Vec<Option<Cell>>],
    total: usize,
    layout: Layout,
) -> Vec<PanelFormat> {
    let widths = column_widths(columns, sample);
    let panels = panel_columns(columns, &widths, total, layout);
    let numbered = panels.len() > 1;
    let number_width = if numbered {
        total.to_string().len().max(1)
    } else {
        0
    };
    panels
        .into_iter()
        .map(|panel| {
            let limit = panel_limit(layout, number_width, panel.len());
            let cut = |text: &str| limit.map_or_else(|| text.to_owned(), |w| truncate(text, w));
            let mut widths = Vec::with_capacity(panel.len() + 1);
            let mut right = Vec::with_capacity(panel.len() + 1);
            if numbered {
                widths.push(number_width.max(1));
                right.push(true);
            }
            for &i in &panel {
                let present = sample.iter().filter_map(|r| r[i].as_ref());
                widths.push(
                    present
                        .clone()
                        .map(|c| cut(&c.text).width())
                        .fold(cut(&columns[i]).width(), usize::max),
                );
                right.push(present.clone().all(|c| c.numeric));
            }
            PanelFormat {
                panel,
                numbered,
                limit,
                widths,
                right,
            }
        })
        .collect()
}

impl PanelFormat {
    /// The header line and the rule under it.
    pub(crate) fn header(&self, columns: &[String]) -> String {
        let mut cells: Vec<String> = Vec::with_capacity(self.widths.len());
        if self.numbered {
            cells.push("#".to_owned());
        }
        for &i in &self.panel {
            cells.push(
                self.limit
                    .map_or_else(|| columns[i].clone(), |w| truncate(&columns[i], w)),
            );
        }
        let mut out = String::new();
        self.write_line(&mut out, &cells);
        let rule: Vec<String> = self.widths.iter().map(|&w| "-".repeat(w)).collect();
        self.write_line(&mut out, &rule);
        out
    }

    /// Append row `number` (from 1), whose cell in column `i` is
    /// `cell(i)` (its text and whether it is a number); counts in `wide`
    /// its cells wider than the sampled width of their column: text is cut
    /// to it with `…`, a number is written whole (a cut number would be a
    /// wrong one) and pushes the rest of its row to the right.
    pub(crate) fn write_row<'c>(
        &self,
        out: &mut String,
        number: usize,
        cell: impl Fn(usize) -> Option<(&'c str, bool)>,
        wide: &mut Wide,
    ) {
        let widths = &self.widths[usize::from(self.numbered)..];
        // Most rows: every cell printable ASCII (one line, as wide as it
        // is long) within its column, written without more ado.
        let fits = self.panel.iter().zip(widths).all(|(&i, &width)| {
            let text = cell(i).map_or("", |(text, _)| text);
            text.len() <= width && is_printable_ascii(text)
        });
        if fits {
            let mut digits = itoa::Buffer::new();
            let number = self
                .numbered
                .then(|| digits.format(number))
                .map(|n| (n, n.len()));
            let cells = self.panel.iter().map(|&i| {
                let text = cell(i).map_or("", |(text, _)| text);
                (text, text.len())
            });
            self.write_one(out, number.into_iter().chain(cells));
            return;
        }
        let mut cells: Vec<Cow<'c, str>> = Vec::with_capacity(self.widths.len());
        if self.numbered {
            cells.push(Cow::Owned(number.to_string()));
        }
        // Whether every cell is printable ASCII: one line, as wide as long.
        let mut ascii = true;
        for (&i, &width) in self.panel.iter().zip(widths) {
            let (text, numeric) = cell(i).unwrap_or(("", false));
            let plain = is_printable_ascii(text);
            let text_width = |text: &str| if plain { text.len() } else { text.width() };
            let text = match self.limit {
                Some(limit) if text_width(text) > limit => Cow::Owned(truncate(text, limit)),
                _ => Cow::Borrowed(text),
            };
            ascii &= plain && matches!(text, Cow::Borrowed(_));
            if text_width(&text) <= width {
                cells.push(text);
            } else if numeric {
                wide.numbers += 1;
                cells.push(text);
            } else {
                ascii = false;
                wide.cut += 1;
                cells.push(Cow::Owned(truncate(&text, width)));
            }
        }
        if ascii {
            // Most rows: no cell to split into lines or to measure again.
            self.write_one(out, cells.iter().map(|c| (c.as_ref(), c.len())));
        } else {
            self.write_line(out, &cells);
        }
    }

    /// One row as `comfy-table` writes it: each line of each cell padded to
    /// its column's width (on the left when right-aligned), two blanks
    /// between columns, trailing blanks removed.
    fn write_line(&self, out: &mut String, cells: &[impl AsRef<str>]) {
        let height = if cells.iter().any(|c| c.as_ref().contains('\n')) {
            cells
                .iter()
                .map(|c| c.as_ref().split('\n').count())
                .max()
                .unwrap_or(1)
        } else {
            1
        };
        for line in 0..height {
            let pieces = cells.iter().map(|cell| {
                let piece = if height == 1 {
                    cell.as_ref()
                } else {
                    cell.as_ref().split('\n').nth(line).unwrap_or("")
                };
                (piece, text_width(piece))
            });
            self.write_one(out, pieces);
        }
    }

    /// One line of a row: its cells' pieces and their widths (one per
    /// column of the panel, `#` included).
    fn write_one<'p>(&self, out: &mut String, pieces: impl Iterator<Item = (&'p str, usize)>) {
        let start = out.len();
        let last = self.widths.len().saturating_sub(1);
        for (c, (piece, width)) in pieces.enumerate() {
            let pad = self.widths[c].saturating_sub(width);
            if self.right[c] {
                push_spaces(out, pad);
                out.push_str(piece);
            } else {
                out.push_str(piece);
                push_spaces(out, pad);
            }
            if c < last {
                push_spaces(out, GAP);
            }
        }
        let end = start + out[start..].trim_end().len();
        out.truncate(end);
        out.push('\n');
    }
}

/// Terminal columns of `text` (`unicode-width`, with a shortcut for
/// printable ASCII).
fn text_width(text: &str) -> usize {
    if is_printable_ascii(text) {
        text.len()
    } else {
        text.width()
    }
}

fn is_printable_ascii(text: &str) -> bool {
    text.bytes().all(|b| (b' '..=b'~').contains(&b))
}

fn push_spaces(out: &mut String, mut n: usize) {
    // A slice at a time: `extend` with a `char` iterator was 3 % of a
    // streamed table's CPU.
    const SPACES: &str = "                                                                ";
    while n > 0 {
        let take = n.min(SPACES.len());
        out.push_str(&SPACES[..take]);
        n -= take;
    }
}

/// `text` cut to `width` terminal columns, ending in `…` when cut.
fn truncate(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[expect(
        clippy::unnecessary_wraps,
        reason = "a present cell, as rows hold them"
    )]
    fn cell(text: &str, numeric: bool) -> Option<Cell> {
        Some(Cell {
            text: text.to_owned(),
            numeric,
        })
    }

    fn render(columns: &[&str], rows: &[Vec<Option<Cell>>], layout: Layout) -> String {
        let columns: Vec<String> = columns.iter().map(|c| (*c).to_owned()).collect();
        let mut out = Vec::new();
        write_table(&mut out, &columns, rows, layout).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn wide_characters_align() {
        let rows = vec![
            vec![cell("学習率テスト", false), cell("0.5", true)],
            vec![cell("ab", false), cell("10", true)],
        ];
        let text = render(&["Name", "ACC"], &rows, Layout::default());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Name          ACC");
        assert_eq!(lines[2], "学習率テスト  0.5");
        assert_eq!(lines[3], "ab             10");
        assert!(lines.iter().all(|l| l.width() <= 17), "{text}");
    }

    #[test]
    fn too_wide_tables_become_panels_of_whole_columns() {
        let columns: Vec<String> = (0..6)
            .map(|i| format!("param_{i}"))
            .chain((0..4).map(|i| format!("RESULT_{i}")))
            .collect();
        let names: Vec<&str> = columns.iter().map(String::as_str).collect();
        let rows = vec![(0..10).map(|i| cell(&format!("{i}.25"), true)).collect()];
        let text = render(
            &names,
            &rows,
            Layout {
                width: Some(40),
                by_kind: true,
            },
        );
        assert!(text.lines().all(|l| l.width() <= 40), "{text}");
        for name in &columns {
            assert_eq!(text.matches(name.as_str()).count(), 1, "{text}");
        }
        // Results start a panel of their own.
        let panels: Vec<&str> = text.split("\n\n").collect();
        assert!(
            panels.iter().any(|p| p.starts_with("#  RESULT_0")),
            "{text}"
        );
        assert!(panels
            .iter()
            .all(|p| !(p.contains("param_") && p.contains("RESULT_"))));
    }

    #[test]
    fn long_cells_are_cut_to_the_width() {
        let rows = vec![vec![cell(&"x".repeat(100), false)]];
        let text = render(
            &["ERROR"],
            &rows,
            Layout {
                width: Some(30),
                by_kind: false,
            },
        );
        assert!(text.lines().all(|l| l.width() <= 30), "{text}");
        assert!(text.contains('…'), "{text}");
    }

    /// A table written by `PanelFormat` from a sample that is the whole
    /// table.
    fn streamed(columns: &[String], rows: &[Vec<Option<Cell>>], layout: Layout) -> String {
        let mut out = String::new();
        for (p, format) in sampled_panels(columns, rows, rows.len(), layout)
            .iter()
            .enumerate()
        {
            if p > 0 {
                out.push('\n');
            }
            out.push_str(&format.header(columns));
            for (r, row) in rows.iter().enumerate() {
                format.write_row(
                    &mut out,
                    r + 1,
                    |i| row[i].as_ref().map(|c| (c.text.as_str(), c.numeric)),
                    &mut Wide::default(),
                );
            }
        }
        out
    }

    proptest::proptest! {
        /// The hand-written rows of a streamed table are `comfy-table`'s,
        /// panels, wide characters, cut cells and line breaks included.
        #[test]
        fn streamed_rows_are_comfy_tables_rows(
            columns in proptest::collection::vec("[a-zA-Z_]{1,12}", 1..8),
            cells in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::option::of(("[a-z0-9 .学é…-]{0,20}", proptest::bool::ANY)),
                    8,
                ),
                0..6,
            ),
            width in proptest::option::of(10..120_usize),
            by_kind in proptest::bool::ANY,
            break_at in proptest::option::of(0..6_usize),
        ) {
            let mut rows: Vec<Vec<Option<Cell>>> = cells
                .into_iter()
                .map(|row| {
                    row.into_iter()
                        .take(columns.len())
                        .map(|c| c.map(|(text, numeric)| Cell { text, numeric }))
                        .collect()
                })
                .collect();
            if let Some(cell) = break_at
                .and_then(|r| rows.get_mut(r))
                .and_then(|row| row[0].as_mut())
            {
                cell.text.push_str("\nsecond line");
            }
            let layout = Layout { width, by_kind };
            let mut comfy = Vec::new();
            write_table(&mut comfy, &columns, &rows, layout).unwrap();
            proptest::prop_assert_eq!(
                streamed(&columns, &rows, layout),
                String::from_utf8(comfy).unwrap()
            );
        }
    }

    #[test]
    fn later_rows_wider_than_the_sample_are_cut_or_written_whole() {
        let columns = vec!["Name".to_owned(), "ACC".to_owned()];
        let sample = vec![vec![cell("short", false), cell("0.5", true)]];
        let formats = sampled_panels(&columns, &sample, 2, Layout::default());
        assert_eq!(formats.len(), 1);
        let mut out = formats[0].header(&columns);
        let mut wide = Wide::default();
        let row = [("short", false), ("0.5", true)];
        formats[0].write_row(&mut out, 1, |i| Some(row[i]), &mut wide);
        assert_eq!(wide, Wide::default());
        let row = [("much longer", false), ("12.25", true)];
        formats[0].write_row(&mut out, 2, |i| Some(row[i]), &mut wide);
        assert_eq!(wide, Wide { cut: 1, numbers: 1 });
        assert_eq!(out, "Name   ACC\n-----  ---\nshort  0.5\nmuch…  12.25\n");
        let note = wide.note().unwrap();
        assert!(note.contains("first 1000 rows; 1 later text wider than its column was cut with `…`, 1 later number wider than its column was written whole"), "{note}");
    }

    #[test]
    fn result_keys() {
        assert!(is_result_key("ACC") && is_result_key("TIME_ELAPSED") && is_result_key("ACC.top1"));
        assert!(!is_result_key("lr") && !is_result_key("Name") && !is_result_key("model.DEPTH"));
    }
}
