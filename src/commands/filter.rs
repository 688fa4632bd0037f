//! Running `filter`: read the logs, select, sort, write in the chosen
//! format to stdout or to `DEST/filtered_YYYY-MM-DD_HH-MM-SS.EXT`.
//! Counts and evaluation failures go to stderr.

use std::fmt::Write as _;
use std::io::{self, BufWriter, Write};

use std::path::{Path, PathBuf};

use crate::cli::{FilterArgs, Format};
use crate::commands::collect::plural;
use crate::commands::output_file::create_timestamped;
use crate::error::{exit, Error};
use crate::expr::{translate, DocumentExpr, ExprError, Sandbox};
use crate::filter::aggregate::AggregateSpec;
use crate::filter::aggregate::{self, Aggregator};
use crate::filter::format::{flatten, project, write_csv, write_json, write_jsonl, Rows};
use crate::filter::input::read_logs;
use crate::filter::one_pass;
use crate::filter::query::{Failures, LogText, Query, Record};
use crate::filter::sort::cmp_keys;
use crate::filter::stream_out::Output;
use crate::filter::table::{write_table, Layout};
use crate::yaml::write::document_bytes;

pub(crate) struct FilterSettings {
    pub(crate) logs: Vec<PathBuf>,
    pub(crate) sandbox: Sandbox,
    pub(crate) filters: Vec<DocumentExpr>,
    pub(crate) sorts: Vec<DocumentExpr>,
    pub(crate) reverse: bool,
    pub(crate) keep_keys: Vec<String>,
    pub(crate) dest: Option<PathBuf>,
    pub(crate) format: Format,
    /// `Some` with `--group-by` or `--agg`.
    pub(crate) aggregate: Option<AggregateSpec>,
    /// The width tables fit, `None` for any.
    pub(crate) width: Option<usize>,
}

impl FilterSettings {
    pub(crate) fn from_args(args: FilterArgs) -> Result<Self, Error> {
        let sandbox = Sandbox::new();
        let compile = |flag: &str, texts: &[String]| -> Result<Vec<DocumentExpr>, Error> {
            texts
                .iter()
                .map(|text| {
                    sandbox
                        .compile_document_expr(text)
                        .map_err(|err| Error::Usage(expr_message(flag, text, &err)))
                })
                .collect()
        };
        let filters = compile("--filter", &args.filter)?;
        let sorts = compile("--sort", &args.sort)?;
        let aggregating = !args.group_by.is_empty() || !args.agg.is_empty();
        if aggregating && !args.keep_keys.is_empty() {
            return Err(Error::Usage(
                "`--keep-keys` cannot be combined with `--group-by`/`--agg`: the aggregated \
                 table has its own columns"
                    .to_owned(),
            ));
        }
        for (set, flag) in [
            (args.agg_stats, "--agg-stats"),
            (args.all_statuses, "--all-statuses"),
            (args.include_cached, "--include-cached"),
        ] {
            if set && !aggregating {
                return Err(Error::Usage(format!(
                    "`{flag}` needs `--group-by` or `--agg`; hint: `--group-by lr --agg ACC \
                     {flag}`"
                )));
            }
        }
        let agg: Vec<String> = args
            .agg
            .iter()
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty())
            .collect();
        let aggregate = aggregating.then_some(AggregateSpec {
            group_by: args.group_by,
            agg,
            stats: args.agg_stats,
            all_statuses: args.all_statuses,
            include_cached: args.include_cached,
        });
        let format = args.format.unwrap_or(if aggregate.is_some() {
            Format::Table
        } else {
            Format::Yaml
        });
        let width = table_width(args.width, args.dest.is_some());
        Ok(Self {
            width,
            logs: args.logs,
            sandbox,
            filters,
            sorts,
            reverse: args.reverse,
            keep_keys: args.keep_keys,
            dest: args.dest,
            format,
            aggregate,
        })
    }
}

/// The width a table must fit: `--width` (0: any), else `COLUMNS`, else
/// the terminal's when stdout is one; any width for a file or a pipe.
fn table_width(asked: Option<usize>, to_file: bool) -> Option<usize> {
    use std::io::IsTerminal as _;
    if let Some(width) = asked {
        return (width > 0).then_some(width);
    }
    if to_file || !io::stdout().is_terminal() {
        return None;
    }
    let columns = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok());
    columns
        .or_else(|| terminal_size::terminal_size().map(|(w, _)| usize::from(w.0)))
        .filter(|&w| w > 0)
}

/// `invalid `--filter` expression `...`: message`, then the expression as
/// Rhai read it with a caret under the position.
pub(crate) fn expr_message(flag: &str, text: &str, err: &ExprError) -> String {
    let mut message = format!("invalid `{flag}` expression `{text}`: {err}");
    let body = text
        .trim_start()
        .strip_prefix("lambda")
        .and_then(|rest| rest.split_once(':'))
        .map_or(text, |(_, body)| body.trim_start());
    let read = translate(body);
    if let (Some(line), Some(column)) = (err.line, err.column) {
        if let Some(source_line) = read.lines().nth(line.saturating_sub(1)) {
            let _ = write!(
                message,
                "\n  {source_line}\n  {}^",
                " ".repeat(column.saturating_sub(1))
            );
        }
    } else if read != body {
        let _ = write!(message, "\n  read as: {read}");
    }
    if let Some(hint) = bare_key_hint(&err.to_string()) {
        let _ = write!(message, "\n{hint}");
    }
    message
}

/// `Undefined variable: ACC` is a key written without `exp.`: say so.
fn bare_key_hint(error: &str) -> Option<String> {
    let name = error
        .split("Undefined variable: ")
        .nth(1)?
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .next()
        .filter(|n| !n.is_empty())?;
    Some(format!(
        "hint: a document's keys are read through `exp`: write `exp.{name}` (or \
         `exp[\"{name}\"]`; `\"{name}\" in exp` tells whether it is there)"
    ))
}

/// Run `filter`: returns the exit status.
pub(crate) fn filter(settings: &FilterSettings) -> Result<i32, Error> {
    let logs = read_logs(&settings.logs)?;
    if let Some(read) = read_once(settings, &logs)? {
        let (documents, ignored) = (read.count.documents, read.count.ignored);
        let layout = Layout {
            width: settings.width,
            by_kind: true,
        };
        return emit(
            settings,
            documents - ignored,
            documents,
            ignored,
            |out, notes| {
                let (panels, wide) = read.write(out, layout)?;
                notes.extend(panels_note(panels, settings.width));
                notes.extend(wide.note());
                Ok(())
            },
        );
    }
    let query = Query {
        sandbox: &settings.sandbox,
        filters: &settings.filters,
        sorts: &settings.sorts,
        // Other formats parse each kept document again as they write it
        // (`filter::stream_out`): memory does not grow with the documents.
        keep_values: settings.aggregate.is_some()
            || (settings.format == Format::Yaml && !settings.keep_keys.is_empty()),
        value_keys: value_keys(settings),
        // Without `--sort`, groups are ordered by their values: documents
        // can be aggregated in any order, as they come, on every core.
        aggregate: settings
            .aggregate
            .as_ref()
            .filter(|_| settings.sorts.is_empty()),
    };
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let mut selection = query.select(&logs, threads)?;
    // A refusal of the sandbox (a limit, a function it leaves out) is bad
    // input, not a document that does not match.
    for (flag, exprs) in [("--filter", &settings.filters), ("--sort", &settings.sorts)] {
        if let Some((expr, err)) = exprs.iter().find_map(|e| e.refusal().map(|r| (e, r))) {
            return Err(Error::Usage(expr_message(flag, &expr.text, err)));
        }
    }
    let total = selection.total();
    report_failures(
        "--filter",
        &settings.filters,
        &total.filter_failures,
        "false",
    );
    report_failures(
        "--sort",
        &settings.sorts,
        &total.sort_failures,
        "a missing key, sorted last",
    );

    let records = &mut selection.records;
    if !settings.sorts.is_empty() {
        records.sort_by(|a, b| cmp_keys(&a.keys, &b.keys, settings.reverse));
    } else if settings.reverse && settings.aggregate.is_none() {
        records.reverse();
    }

    let mut aggregated = Aggregator::default();
    for aggregator in std::mem::take(&mut selection.aggregators) {
        aggregated.merge(aggregator);
    }
    let kept = records.len() + aggregated.documents();
    emit(
        settings,
        kept,
        total.documents,
        total.ignored,
        |out, notes| write_output(settings, records, aggregated, out, notes),
    )
}

/// Whole documents in a format other than YAML (no expression, no
/// `--reverse`, `--keep-keys` or aggregation): every document read once
/// (`filter::one_pass`); `None` otherwise, or when a log is not split into
/// documents alone (the general path then says why).
fn read_once(settings: &FilterSettings, logs: &[LogText]) -> Result<Option<one_pass::Read>, Error> {
    let whole = settings.filters.is_empty()
        && settings.sorts.is_empty()
        && !settings.reverse
        && settings.keep_keys.is_empty()
        && settings.aggregate.is_none();
    if !whole {
        return Ok(None);
    }
    one_pass::read(logs, settings.format).map_err(|err| {
        Error::Usage(format!(
            "failed to write the output to a temporary file (in `{}`; set TMPDIR to \
             choose another place): {err}",
            std::env::temp_dir().display()
        ))
    })
}

/// Open the output, write it with `write` (which may add notes for stderr),
/// then say on stderr what was kept.
fn emit(
    settings: &FilterSettings,
    kept: usize,
    documents: usize,
    ignored: usize,
    write: impl FnOnce(&mut dyn Write, &mut Vec<String>) -> io::Result<()>,
) -> Result<i32, Error> {
    let (dest_path, mut out) = open_output(settings)?;
    let mut notes = Vec::new();
    let written = write(&mut out, &mut notes).and_then(|()| out.flush());
    match written {
        Ok(()) => {}
        // `filter ... | head`: the reader has all it wants.
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe && dest_path.is_none() => {
            return Ok(exit::OK)
        }
        Err(err) => return Err(Error::Output(err)),
    }

    if let Some(path) = &dest_path {
        println!("{}", path.display());
    }
    eprintln!(
        "{}",
        summary(kept, documents, ignored, dest_path.as_deref())
    );
    for note in notes {
        eprintln!("{note}");
    }
    Ok(exit::OK)
}

/// `kept 3 of 10 documents (ignored 1 document that is not a mapping), written to ...`
fn summary(kept: usize, documents: usize, ignored: usize, dest: Option<&Path>) -> String {
    let mut summary = format!(
        "kept {} of {}",
        kept,
        plural(documents - ignored, "document")
    );
    if ignored > 0 {
        let _ = write!(
            summary,
            " (ignored {} that {} not a mapping)",
            plural(ignored, "document"),
            if ignored == 1 { "is" } else { "are" }
        );
    }
    if let Some(path) = dest {
        let _ = write!(summary, ", written to `{}`", path.display());
    }
    summary
}

/// Where the output goes: a new timestamped file in `--dest`, or stdout.
fn open_output(settings: &FilterSettings) -> Result<(Option<PathBuf>, Box<dyn Write>), Error> {
    Ok(match &settings.dest {
        Some(dir) => {
            let (path, file) = create_timestamped(dir, "filtered", extension(settings.format))
                .map_err(|err| {
                    Error::Usage(format!(
                        "failed to create the output file in `{}`: {err}",
                        dir.display()
                    ))
                })?;
            (
                Some(path),
                Box::new(BufWriter::with_capacity(1 << 20, file)),
            )
        }
        None => (
            None,
            Box::new(BufWriter::with_capacity(1 << 20, io::stdout().lock())),
        ),
    })
}

/// The top-level keys the output needs: those of `--keep-keys` or of the
/// aggregation (with every dot-separated prefix, since `a.b` may name a
/// nested key); `None` for all.
fn value_keys(settings: &FilterSettings) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let keys: Vec<&String> = match &settings.aggregate {
        Some(spec) => {
            out.extend(AggregateSpec::RUN_KEYS.map(str::to_owned));
            spec.group_by.iter().chain(&spec.agg).collect()
        }
        None if !settings.keep_keys.is_empty() => settings.keep_keys.iter().collect(),
        None => return None,
    };
    for key in keys {
        for (at, _) in key.match_indices('.') {
            out.push(key[..at].to_owned());
        }
        out.push(key.clone());
    }
    Some(out)
}

fn extension(format: Format) -> &'static str {
    match format {
        Format::Yaml => "yaml",
        Format::Table => "txt",
        Format::Csv => "csv",
        Format::Json => "json",
        Format::Jsonl => "jsonl",
    }
}

fn report_failures(
    flag: &str,
    exprs: &[crate::expr::DocumentExpr],
    failures: &[Failures],
    counted_as: &str,
) {
    for (expr, f) in exprs.iter().zip(failures) {
        if let Some((err, place)) = &f.first {
            eprintln!(
                "warning: `{flag}` expression `{}` failed on {} (counted as {counted_as}); \
                 the first, at {place}: {err}",
                expr.text,
                plural(f.count, "document")
            );
        }
    }
}

fn write_output(
    settings: &FilterSettings,
    records: &[Record<'_>],
    mut aggregated: Aggregator,
    out: &mut dyn Write,
    notes: &mut Vec<String>,
) -> io::Result<()> {
    if let Some(spec) = &settings.aggregate {
        // Documents not aggregated during the selection (with `--sort`).
        for doc in records.iter().filter_map(|r| r.doc.as_ref()) {
            aggregated.add(spec, doc);
        }
        notes.extend(aggregated.left_out.note());
        let groups = aggregated.finish(settings.sorts.is_empty(), settings.reverse);
        return match settings.format {
            Format::Table => {
                let (columns, rows) = aggregate::table(spec, &groups);
                let layout = Layout {
                    width: settings.width,
                    by_kind: false,
                };
                let panels = write_table(&mut &mut *out, &columns, &rows, layout)?;
                notes.extend(panels_note(panels, settings.width));
                Ok(())
            }
            format => {
                let docs = aggregate::records(spec, &groups);
                write_documents(out, format, docs.iter(), &[], Layout::default()).map(|_| ())
            }
        };
    }
    let keep = &settings.keep_keys;
    if settings.format == Format::Yaml {
        let mut buf = Vec::with_capacity(1 << 16);
        for record in records {
            match (record.source, &record.doc) {
                (Some(piece), _) if keep.is_empty() => piece.write_document(&mut buf),
                (_, Some(doc)) => {
                    let bytes = if keep.is_empty() {
                        document_bytes(doc)
                    } else {
                        document_bytes(&project(doc, keep))
                    };
                    buf.extend_from_slice(&bytes.map_err(io::Error::other)?);
                }
                (_, None) => {}
            }
            if buf.len() >= 1 << 16 {
                out.write_all(&buf)?;
                buf.clear();
            }
        }
        return out.write_all(&buf);
    }
    let value_keys = value_keys(settings);
    let output = Output {
        format: settings.format,
        keep,
        value_keys: value_keys.as_deref(),
        layout: Layout {
            width: settings.width,
            by_kind: keep.is_empty(),
        },
        wide: std::sync::Mutex::default(),
    };
    let panels = output.write(out, records)?;
    notes.extend(panels_note(panels, settings.width));
    notes.extend(output.wide_note());
    Ok(())
}

/// Returns the number of table panels (1 for other formats).
fn write_documents<'a>(
    out: &mut dyn Write,
    format: Format,
    docs: impl Iterator<Item = &'a yaml_serde::Mapping> + Clone,
    keep: &[String],
    layout: Layout,
) -> io::Result<usize> {
    let mut out = out;
    let rows = |docs: &mut dyn Iterator<Item = &'a yaml_serde::Mapping>| {
        let rows = Rows::from_flat(docs.map(flatten));
        if keep.is_empty() {
            rows
        } else {
            rows.in_order(keep)
        }
    };
    match format {
        Format::Yaml => crate::yaml::write::write_documents_iter(&mut out, docs).map(|()| 1),
        Format::Json => write_json(&mut out, docs).map(|()| 1),
        Format::Jsonl => write_jsonl(&mut out, docs).map(|()| 1),
        Format::Table => {
            let rows = rows(&mut { docs });
            write_table(&mut out, &rows.columns, &rows.cells(), layout)
        }
        Format::Csv => write_csv(&mut out, &rows(&mut { docs })).map(|()| 1),
    }
}

/// `note: the table is wider than 160 columns: …`, when it took panels.
fn panels_note(panels: usize, width: Option<usize>) -> Option<String> {
    let width = width.filter(|_| panels > 1)?;
    Some(format!(
        "note: the table is wider than {width} columns: shown as {panels} panels of whole \
         columns, one under the other, rows numbered in `#`; `--width 0` writes it whole, \
         `--format csv` for a spreadsheet"
    ))
}
