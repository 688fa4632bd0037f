//! Selecting documents: parse the logs' documents on every core, keep those
//! for which every `--filter` holds, compute their `--sort` keys.
//!
//! Each log is split into document pieces (`yaml_stream`), and the pieces
//! of all logs are cut into one contiguous range per thread, so the result
//! comes back in log order without reordering. A log whose pieces do not
//! parse alone is parsed whole afterwards (slow path; an invalid log is an
//! error with its position). Documents that fail the filters are dropped at
//! once, so memory holds only the kept ones.

use std::collections::BTreeSet;
use std::path::PathBuf;

use yaml_serde::{Mapping, Value};

use super::aggregate::{AggregateSpec, Aggregator};
use super::sort::SortKey;
use crate::error::Error;
use crate::expr::{BoundDocument, DocumentExpr, ExprError, Sandbox};
use crate::yaml::fast as yaml_fast;
use crate::yaml::stream::{parse_file, parse_piece, split, Piece};

/// One log file's text.
pub(crate) struct LogText {
    pub(crate) path: PathBuf,
    pub(crate) text: String,
}

/// The compiled query.
pub(crate) struct Query<'s> {
    pub(crate) sandbox: &'s Sandbox,
    pub(crate) filters: &'s [DocumentExpr],
    pub(crate) sorts: &'s [DocumentExpr],
    /// Whether kept documents need their values (formats other than YAML,
    /// `--keep-keys`, aggregation); YAML output copies the text otherwise.
    pub(crate) keep_values: bool,
    /// The top-level keys whose values are needed, when not all are.
    pub(crate) value_keys: Option<Vec<String>>,
    /// Aggregate kept documents as they come instead of keeping them
    /// (aggregation without `--sort`, where the order does not matter).
    pub(crate) aggregate: Option<&'s AggregateSpec>,
}

/// A kept document.
pub(crate) struct Record<'t> {
    /// Index of its log file.
    pub(crate) file: usize,
    /// Its position in the log (pieces and documents count alike).
    pub(crate) index: usize,
    /// Its value, when the query keeps values or the text cannot be copied.
    pub(crate) doc: Option<Mapping>,
    /// Its text, when it can be copied to the output as written.
    pub(crate) source: Option<Piece<'t>>,
    /// One key per `--sort`, in command-line order.
    pub(crate) keys: Vec<SortKey>,
}

/// Evaluation failures of one expression.
#[derive(Debug, Default, Clone)]
pub(crate) struct Failures {
    pub(crate) count: usize,
    /// The first failure: its message and the document's place.
    pub(crate) first: Option<(ExprError, String)>,
}

impl Failures {
    fn add(&mut self, other: Failures) {
        self.count += other.count;
        if self.first.is_none() {
            self.first = other.first;
        }
    }
}

/// What happened in one log file.
#[derive(Debug, Default, Clone)]
pub(crate) struct Tally {
    /// Documents read (mappings or not).
    pub(crate) documents: usize,
    /// Documents that are not mappings, ignored.
    pub(crate) ignored: usize,
    pub(crate) filter_failures: Vec<Failures>,
    pub(crate) sort_failures: Vec<Failures>,
}

impl Tally {
    fn new(query: &Query<'_>) -> Self {
        Self {
            documents: 0,
            ignored: 0,
            filter_failures: vec![Failures::default(); query.filters.len()],
            sort_failures: vec![Failures::default(); query.sorts.len()],
        }
    }

    fn add(&mut self, other: Tally) {
        self.documents += other.documents;
        self.ignored += other.ignored;
        for (a, b) in self.filter_failures.iter_mut().zip(other.filter_failures) {
            a.add(b);
        }
        for (a, b) in self.sort_failures.iter_mut().zip(other.sort_failures) {
            a.add(b);
        }
    }
}

/// The kept documents in log order, and a tally per log.
pub(crate) struct Selection<'t> {
    pub(crate) records: Vec<Record<'t>>,
    pub(crate) tallies: Vec<Tally>,
    /// With [`Query::aggregate`]: the groups of each log, instead of
    /// records.
    pub(crate) aggregators: Vec<Aggregator>,
}

impl Selection<'_> {
    /// The sum over all logs.
    pub(crate) fn total(&self) -> Tally {
        let mut total = self.tallies.first().cloned().unwrap_or_default();
        for t in self.tallies.iter().skip(1) {
            total.add(t.clone());
        }
        total
    }
}

struct Item<'t> {
    file: usize,
    index: usize,
    piece: Piece<'t>,
}

/// Where a document is, for messages.
enum Place<'a> {
    Line(&'a std::path::Path, usize),
    Document(&'a std::path::Path, usize),
}

impl Place<'_> {
    fn describe(&self) -> String {
        match self {
            Self::Line(path, line) => format!("{}:{line}", path.display()),
            Self::Document(path, index) => format!("{}, document {index}", path.display()),
        }
    }
}

impl Query<'_> {
    /// The top-level keys the expressions read, `None` for any.
    fn expression_keys(&self) -> Option<Vec<String>> {
        let mut keys = BTreeSet::new();
        for expr in self.filters.iter().chain(self.sorts) {
            keys.extend(expr.keys.as_ref()?.iter().cloned());
        }
        Some(keys.into_iter().collect())
    }

    /// Names the documents are bound to besides `exp` (lambda parameters).
    fn other_names(&self) -> Vec<String> {
        let names: BTreeSet<&String> = self
            .filters
            .iter()
            .chain(self.sorts)
            .filter_map(|e| e.param.as_ref())
            .collect();
        names.into_iter().cloned().collect()
    }

    /// Run the query over `logs` on `threads` threads.
    pub(crate) fn select<'t>(
        &self,
        logs: &'t [LogText],
        threads: usize,
    ) -> Result<Selection<'t>, Error> {
        let names = self.other_names();
        let only = self.expression_keys();
        let items: Vec<Item<'t>> = logs
            .iter()
            .enumerate()
            .flat_map(|(file, log)| {
                split(&log.text)
                    .into_iter()
                    .enumerate()
                    .map(move |(index, piece)| Item { file, index, piece })
            })
            .collect();
        let per_thread = items.len().div_ceil(threads.max(1)).max(1);
        let parts: Vec<Part<'t>> = std::thread::scope(|scope| {
            let handles: Vec<_> = items
                .chunks(per_thread)
                .map(|chunk| {
                    std::thread::Builder::new()
                        .stack_size(crate::expr::EVAL_STACK_SIZE)
                        .spawn_scoped(scope, || {
                            self.select_items(chunk, logs, only.as_deref(), &names)
                        })
                        .expect("start a filter thread")
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a filter thread panicked"))
                .collect()
        });

        let mut selection = Selection {
            records: Vec::new(),
            tallies: vec![Tally::new(self); logs.len()],
            aggregators: vec![Aggregator::default(); logs.len()],
        };
        let mut slow = BTreeSet::new();
        for part in parts {
            selection.records.extend(part.records);
            for (total, tally) in selection.tallies.iter_mut().zip(part.tallies) {
                total.add(tally);
            }
            for (total, aggregator) in selection.aggregators.iter_mut().zip(part.aggregators) {
                total.merge(aggregator);
            }
            slow.extend(part.unsplittable);
        }
        for &file in &slow {
            let log = &logs[file];
            let docs = parse_file(&log.text, &log.path).map_err(Error::Usage)?;
            selection.records.retain(|r| r.file != file);
            selection.aggregators[file] = Aggregator::default();
            let mut tally = Tally::new(self);
            for (index, doc) in docs.into_iter().enumerate() {
                let place = Place::Document(&log.path, index);
                if let Some(record) =
                    self.consider(doc, file, index, None, &place, &names, &mut tally)
                {
                    self.keep(record, &mut selection.records, &mut selection.aggregators);
                }
            }
            selection.tallies[file] = tally;
        }
        if !slow.is_empty() {
            selection.records.sort_by_key(|r| (r.file, r.index));
        }
        Ok(selection)
    }

    fn select_items<'t>(
        &self,
        items: &[Item<'t>],
        logs: &[LogText],
        only: Option<&[String]>,
        names: &[String],
    ) -> Part<'t> {
        let mut part = Part {
            records: Vec::new(),
            tallies: vec![Tally::new(self); logs.len()],
            aggregators: vec![Aggregator::default(); logs.len()],
            unsplittable: BTreeSet::new(),
        };
        for item in items {
            if part.unsplittable.contains(&item.file) {
                continue;
            }
            let place = Place::Line(&logs[item.file].path, item.piece.line);
            match self.consider_plain(item, &place, only, names, &mut part.tallies[item.file]) {
                Plain::Kept(record) => {
                    self.keep(record, &mut part.records, &mut part.aggregators);
                    continue;
                }
                Plain::Dropped => continue,
                Plain::Unsupported => {}
            }
            match parse_piece(&item.piece) {
                Ok(Some(doc)) => {
                    let tally = &mut part.tallies[item.file];
                    if let Some(record) = self.consider(
                        doc,
                        item.file,
                        item.index,
                        Some(item.piece),
                        &place,
                        names,
                        tally,
                    ) {
                        self.keep(record, &mut part.records, &mut part.aggregators);
                    }
                }
                Ok(None) => {
                    let tally = &mut part.tallies[item.file];
                    tally.documents += 1;
                    tally.ignored += 1;
                }
                Err(_) => {
                    part.unsplittable.insert(item.file);
                }
            }
        }
        part
    }

    /// The fast path for a document in the plain subset of YAML: bound for
    /// the expressions straight from its text, its value built only when
    /// it is kept and needed.
    fn consider_plain<'t>(
        &self,
        item: &Item<'t>,
        place: &Place<'_>,
        only: Option<&[String]>,
        names: &[String],
        tally: &mut Tally,
    ) -> Plain<'t> {
        let text = item.piece.text;
        let parse = || match &self.value_keys {
            Some(keys) => yaml_fast::parse_mapping_keys(text, keys),
            None => yaml_fast::parse_mapping(text),
        };
        let keys = if self.filters.is_empty() && self.sorts.is_empty() {
            if self.keep_values {
                let Some(doc) = parse() else {
                    return Plain::Unsupported;
                };
                tally.documents += 1;
                return Plain::Kept(Record {
                    file: item.file,
                    index: item.index,
                    doc: Some(doc),
                    source: Some(item.piece),
                    keys: Vec::new(),
                });
            }
            if !yaml_fast::is_plain_mapping(text) {
                return Plain::Unsupported;
            }
            Vec::new()
        } else {
            let Some(mut bound) = BoundDocument::from_plain_yaml(text, only, names) else {
                return Plain::Unsupported;
            };
            let Some(keys) = self.evaluate(&mut bound, place, tally) else {
                tally.documents += 1;
                return Plain::Dropped;
            };
            keys
        };
        let doc = if self.keep_values {
            // The text parsed as a plain document above, so this succeeds.
            let Some(doc) = parse() else {
                return Plain::Unsupported;
            };
            Some(doc)
        } else {
            None
        };
        tally.documents += 1;
        Plain::Kept(Record {
            file: item.file,
            index: item.index,
            doc,
            source: Some(item.piece),
            keys,
        })
    }

    /// Run the filters, then the sorts: `None` when filtered out.
    fn evaluate(
        &self,
        bound: &mut BoundDocument,
        place: &Place<'_>,
        tally: &mut Tally,
    ) -> Option<Vec<SortKey>> {
        for (expr, failures) in self.filters.iter().zip(&mut tally.filter_failures) {
            match expr.eval_bool(self.sandbox, bound) {
                Ok(true) => {}
                Ok(false) => return None,
                Err(err) => {
                    failures.count += 1;
                    failures
                        .first
                        .get_or_insert_with(|| (err, place.describe()));
                    return None;
                }
            }
        }
        let keys = self
            .sorts
            .iter()
            .zip(&mut tally.sort_failures)
            .map(
                |(expr, failures)| match expr.eval_value(self.sandbox, bound) {
                    Ok(value) => SortKey::from_value(&value),
                    Err(err) => {
                        failures.count += 1;
                        failures
                            .first
                            .get_or_insert_with(|| (err, place.describe()));
                        SortKey::Missing
                    }
                },
            )
            .collect();
        Some(keys)
    }

    /// Keep a record, or only add it to its log's groups.
    fn keep<'t>(
        &self,
        record: Record<'t>,
        records: &mut Vec<Record<'t>>,
        aggregators: &mut [Aggregator],
    ) {
        match (self.aggregate, &record.doc) {
            (Some(spec), Some(doc)) => aggregators[record.file].add(spec, doc),
            _ => records.push(record),
        }
    }

    /// Filter one document; `Some` when it is kept.
    #[expect(clippy::too_many_arguments, reason = "one call site per path")]
    fn consider<'t>(
        &self,
        doc: Value,
        file: usize,
        index: usize,
        source: Option<Piece<'t>>,
        place: &Place<'_>,
        names: &[String],
        tally: &mut Tally,
    ) -> Option<Record<'t>> {
        tally.documents += 1;
        let Value::Mapping(doc) = doc else {
            tally.ignored += 1;
            return None;
        };
        let keys = if self.filters.is_empty() && self.sorts.is_empty() {
            Vec::new()
        } else {
            let mut bound = BoundDocument::from_mapping(&doc, names);
            self.evaluate(&mut bound, place, tally)?
        };
        Some(Record {
            file,
            index,
            doc: Some(doc),
            source,
            keys,
        })
    }
}

/// What the fast path made of a document.
enum Plain<'t> {
    /// Not in the plain subset: parse it with `yaml_serde`.
    Unsupported,
    /// Filtered out.
    Dropped,
    Kept(Record<'t>),
}

/// One thread's share.
struct Part<'t> {
    records: Vec<Record<'t>>,
    tallies: Vec<Tally>,
    aggregators: Vec<Aggregator>,
    /// Logs with a piece that did not parse alone.
    unsplittable: BTreeSet<usize>,
}
