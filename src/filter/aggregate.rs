//! `--group-by KEY... --agg KEY,KEY`: results across repetitions.
//!
//! Documents are grouped by the values of the `--group-by` keys (a document
//! without one of them forms groups with an empty cell there, as pandas'
//! `dropna=False`). For each `--agg` key a group gets the number of numeric
//! values, their mean and sample standard deviation (n - 1, as pandas), and
//! with `--agg-stats` the min and max; documents where the key is missing or
//! not a number are left out of that key's figures. Statistics are streamed
//! (Welford), so memory holds one accumulator per group.
//!
//! Groups are listed by their key values (missing last) — or, when `--sort`
//! is given, in the order in which the sorted documents first show them.
//!
//! Each run is counted once and only when it finished: a document whose
//! `STATUS` is not `done` is left out (`--all-statuses` counts it; a
//! document without `STATUS`, written by another tool, counts), and so is a
//! second document with the `RUN_DIR` of one already counted — the copy a
//! cache hit appends (`CACHED: true`) carries the original run's `RUN_DIR`
//! (`--include-cached` counts every copy). Documents without `RUN_DIR` are
//! runs of their own.

use std::fmt::Write as _;

use indexmap::IndexMap;
use yaml_serde::{Mapping, Value};

use super::format::{lookup, Cell};
use super::sort::SortKey;
use crate::model::keys;

/// What to aggregate.
#[derive(Debug, Clone, Default)]
pub(crate) struct AggregateSpec {
    pub(crate) group_by: Vec<String>,
    pub(crate) agg: Vec<String>,
    /// Add min and max.
    pub(crate) stats: bool,
    /// Count documents whatever their `STATUS` (`--all-statuses`).
    pub(crate) all_statuses: bool,
    /// Count every copy of a run (`--include-cached`).
    pub(crate) include_cached: bool,
}

impl AggregateSpec {
    /// The keys that decide whether a document is counted, besides the
    /// grouped and aggregated ones.
    pub(crate) const RUN_KEYS: [&'static str; 2] = [keys::STATUS, keys::RUN_DIR];
}

/// Documents left out of the aggregation, for the note on stderr.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LeftOut {
    /// Documents with the `RUN_DIR` of a document already counted.
    pub(crate) copies: usize,
    /// Documents by `STATUS` other than `done`, in first-seen order.
    pub(crate) statuses: IndexMap<String, usize>,
}

impl LeftOut {
    fn merge(&mut self, other: LeftOut) {
        self.copies += other.copies;
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
    }

    /// `left out of the aggregation: 10 copies of runs already counted
    /// (cache hits; `--include-cached` counts them), 1 run with STATUS
    /// `interrupted` (`--all-statuses` counts them)`, or `None`.
    pub(crate) fn note(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.copies > 0 {
            let copies = match self.copies {
                1 => "1 copy".to_owned(),
                n => format!("{n} copies"),
            };
            parts.push(format!(
                "{copies} of runs already counted (the same `RUN_DIR`: a cache hit appends \
                 a `CACHED: true` copy; `--include-cached` counts them)"
            ));
        }
        if !self.statuses.is_empty() {
            let statuses: Vec<String> = self
                .statuses
                .iter()
                .map(|(status, n)| format!("{n} `{status}`"))
                .collect();
            parts.push(format!(
                "{} with a STATUS other than `done` ({}; `--all-statuses` counts them)",
                crate::commands::collect::plural(self.statuses.values().sum(), "run"),
                statuses.join(", ")
            ));
        }
        (!parts.is_empty())
            .then(|| format!("note: left out of the aggregation: {}", parts.join("; ")))
    }
}

/// A run with a `RUN_DIR`, held until the end so that a copy of it in a
/// later part of the logs is not counted again.
#[derive(Debug, Clone)]
struct Run {
    group: Vec<Option<String>>,
    values: Vec<Option<f64>>,
}

/// Streaming statistics of one key in one group.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Accumulator {
    pub(crate) count: usize,
    mean: f64,
    m2: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

impl Default for Accumulator {
    fn default() -> Self {
        Self {
            count: 0,
            mean: 0.0,
            m2: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl Accumulator {
    pub(crate) fn push(&mut self, x: f64) {
        self.count += 1;
        let delta = x - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (x - self.mean);
        self.min = self.min.min(x);
        self.max = self.max.max(x);
    }

    /// Combine with the statistics of other values (Chan et al.).
    pub(crate) fn merge(&mut self, other: &Accumulator) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *other;
            return;
        }
        let (n1, n2) = (self.count as f64, other.count as f64);
        let n = n1 + n2;
        let delta = other.mean - self.mean;
        self.mean += delta * n2 / n;
        self.m2 += other.m2 + delta * delta * n1 * n2 / n;
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    pub(crate) fn mean(&self) -> Option<f64> {
        (self.count > 0).then_some(self.mean)
    }

    /// Sample standard deviation; `None` below two values.
    pub(crate) fn std(&self) -> Option<f64> {
        (self.count > 1).then(|| (self.m2 / (self.count - 1) as f64).sqrt())
    }
}

/// One group: its key values, size and an accumulator per `--agg` key.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub(crate) values: Vec<Option<Value>>,
    pub(crate) n: usize,
    pub(crate) accumulators: Vec<Accumulator>,
}

impl Group {
    fn new(spec: &AggregateSpec, values: &[Option<&Value>]) -> Self {
        Self {
            values: values.iter().map(|v| v.cloned()).collect(),
            n: 0,
            accumulators: vec![Accumulator::default(); spec.agg.len()],
        }
    }

    /// Count a document with these values of the `--agg` keys.
    fn add(&mut self, numbers: impl Iterator<Item = Option<f64>>) {
        self.n += 1;
        for (acc, x) in self.accumulators.iter_mut().zip(numbers) {
            if let Some(x) = x {
                acc.push(x);
            }
        }
    }
}

/// Groups in the making. Documents are added one by one (and dropped), and
/// aggregators of consecutive runs of documents merge, so that `filter`
/// aggregates on every core without keeping the documents.
#[derive(Debug, Clone, Default)]
pub(crate) struct Aggregator {
    /// Keyed by the `Debug` text of the group values (`None` for missing).
    groups: IndexMap<Vec<Option<String>>, Group>,
    /// Runs with a `RUN_DIR`, by `RUN_DIR`: added to their groups at the end.
    runs: IndexMap<String, Run>,
    pub(crate) left_out: LeftOut,
}

impl Aggregator {
    pub(crate) fn add(&mut self, spec: &AggregateSpec, doc: &Mapping) {
        if !spec.all_statuses {
            match doc.get(keys::STATUS) {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) if s == "done" => {}
                Some(other) => {
                    let status = match other {
                        Value::String(s) => s.clone(),
                        other => format!("{other:?}"),
                    };
                    *self.left_out.statuses.entry(status).or_default() += 1;
                    return;
                }
            }
        }
        let run_dir = match doc.get(keys::RUN_DIR) {
            Some(Value::String(dir)) if !spec.include_cached => Some(dir),
            _ => None,
        };
        if run_dir.is_some_and(|dir| self.runs.contains_key(dir)) {
            self.left_out.copies += 1;
            return;
        }
        let values: Vec<Option<&Value>> = spec.group_by.iter().map(|k| lookup(doc, k)).collect();
        let id: Vec<Option<String>> = values.iter().map(|v| v.map(|v| format!("{v:?}"))).collect();
        let numbers = spec.agg.iter().map(|key| lookup(doc, key).and_then(number));
        if let Some(dir) = run_dir {
            if !self.groups.contains_key(&id) {
                self.groups.insert(id.clone(), Group::new(spec, &values));
            }
            let run = Run {
                group: id,
                values: numbers.collect(),
            };
            self.runs.insert(dir.clone(), run);
            return;
        }
        let group = self
            .groups
            .entry(id)
            .or_insert_with(|| Group::new(spec, &values));
        group.add(numbers);
    }

    /// The number of documents added (counted or left out).
    pub(crate) fn documents(&self) -> usize {
        self.groups.values().map(|g| g.n).sum::<usize>()
            + self.runs.len()
            + self.left_out.copies
            + self.left_out.statuses.values().sum::<usize>()
    }

    /// Add the groups of documents that came after this aggregator's.
    pub(crate) fn merge(&mut self, later: Aggregator) {
        self.left_out.merge(later.left_out);
        for (dir, run) in later.runs {
            if self.runs.contains_key(&dir) {
                self.left_out.copies += 1;
            } else {
                self.runs.insert(dir, run);
            }
        }
        for (id, group) in later.groups {
            match self.groups.get_mut(&id) {
                Some(mine) => {
                    mine.n += group.n;
                    for (a, b) in mine.accumulators.iter_mut().zip(&group.accumulators) {
                        a.merge(b);
                    }
                }
                None => {
                    self.groups.insert(id, group);
                }
            }
        }
    }

    /// The groups in first-seen order, or ordered by their key values.
    pub(crate) fn finish(mut self, order_by_values: bool, reverse: bool) -> Vec<Group> {
        for (_, run) in std::mem::take(&mut self.runs) {
            if let Some(group) = self.groups.get_mut(&run.group) {
                group.add(run.values.into_iter());
            }
        }
        // A group can be left without documents when its only runs were
        // copies of runs counted in an earlier part of the logs.
        let mut groups: Vec<Group> = self.groups.into_values().filter(|g| g.n > 0).collect();
        if order_by_values {
            let keys = |g: &Group| -> Vec<SortKey> {
                g.values
                    .iter()
                    .map(|v| v.as_ref().map_or(SortKey::Missing, SortKey::from_value))
                    .collect()
            };
            groups.sort_by(|a, b| {
                let (ka, kb) = (keys(a), keys(b));
                ka.iter()
                    .zip(&kb)
                    .map(|(x, y)| x.cmp_dir(y, reverse))
                    .find(|o| o.is_ne())
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
        }
        groups
    }
}

/// Group `docs` (already filtered and sorted).
#[cfg(test)]
pub(crate) fn aggregate<'a>(
    spec: &AggregateSpec,
    docs: impl IntoIterator<Item = &'a Mapping>,
    order_by_values: bool,
    reverse: bool,
) -> Vec<Group> {
    let mut aggregator = Aggregator::default();
    for doc in docs {
        aggregator.add(spec, doc);
    }
    aggregator.finish(order_by_values, reverse)
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// Flat records for CSV, JSON and YAML: the group keys, `n`, then
/// `KEY_mean`, `KEY_std`, `KEY_n` (and `KEY_min`, `KEY_max`).
pub(crate) fn records(spec: &AggregateSpec, groups: &[Group]) -> Vec<Mapping> {
    let float = |x: Option<f64>| x.map_or(Value::Null, Value::from);
    groups
        .iter()
        .map(|g| {
            let mut m = Mapping::new();
            for (key, value) in spec.group_by.iter().zip(&g.values) {
                m.insert(key.as_str().into(), value.clone().unwrap_or(Value::Null));
            }
            m.insert("n".into(), Value::from(g.n as u64));
            for (key, acc) in spec.agg.iter().zip(&g.accumulators) {
                m.insert(format!("{key}_mean").into(), float(acc.mean()));
                m.insert(format!("{key}_std").into(), float(acc.std()));
                m.insert(format!("{key}_n").into(), Value::from(acc.count as u64));
                if spec.stats {
                    let some = acc.count > 0;
                    m.insert(format!("{key}_min").into(), float(some.then_some(acc.min)));
                    m.insert(format!("{key}_max").into(), float(some.then_some(acc.max)));
                }
            }
            m
        })
        .collect()
}

/// The terminal table: group keys, `n`, `KEY` as `mean ± std` (with
/// `(n=k)` when some documents lack the key), and `KEY min`/`KEY max`.
pub(crate) fn table(
    spec: &AggregateSpec,
    groups: &[Group],
) -> (Vec<String>, Vec<Vec<Option<Cell>>>) {
    let mut columns: Vec<String> = spec.group_by.clone();
    columns.push("n".to_owned());
    for key in &spec.agg {
        columns.push(key.clone());
        if spec.stats {
            columns.push(format!("{key} min"));
            columns.push(format!("{key} max"));
        }
    }
    let numeric = |text: String| {
        Some(Cell {
            text,
            numeric: true,
        })
    };
    let rows = groups
        .iter()
        .map(|g| {
            let mut row: Vec<Option<Cell>> =
                g.values.iter().map(|v| v.as_ref().map(Cell::of)).collect();
            row.push(numeric(g.n.to_string()));
            for acc in &g.accumulators {
                let Some(mean) = acc.mean() else {
                    row.extend(std::iter::repeat_n(None, if spec.stats { 3 } else { 1 }));
                    continue;
                };
                let decimals = decimals(mean, acc.std());
                let mut text = match acc.std() {
                    Some(std) => format!("{mean:.decimals$} ± {std:.decimals$}"),
                    None => format!("{mean:.decimals$}"),
                };
                if acc.count < g.n {
                    let _ = write!(text, " (n={})", acc.count);
                }
                row.push(numeric(text));
                if spec.stats {
                    row.push(numeric(format!("{:.decimals$}", acc.min)));
                    row.push(numeric(format!("{:.decimals$}", acc.max)));
                }
            }
            row
        })
        .collect();
    (columns, rows)
}

/// Decimals for `mean ± std`: two significant digits of the std (the
/// usual way to quote an uncertainty), or four of the mean without a std.
fn decimals(mean: f64, std: Option<f64>) -> usize {
    let digits = |x: f64, significant: i32| -> usize {
        if x == 0.0 || !x.is_finite() {
            return 0;
        }
        (significant - 1 - x.abs().log10().floor() as i32).clamp(0, 10) as usize
    };
    match std {
        Some(std) if std > 0.0 && std.is_finite() => digits(std, 2),
        _ => digits(mean, 4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(text: &str) -> Vec<Mapping> {
        text.split("---\n")
            .map(|d| yaml_serde::from_str(d).unwrap())
            .collect()
    }

    #[test]
    fn welford_matches_the_textbook() {
        let mut acc = Accumulator::default();
        for x in [0.8, 0.9, 1.0] {
            acc.push(x);
        }
        assert!((acc.mean().unwrap() - 0.9).abs() < 1e-12);
        assert!((acc.std().unwrap() - 0.1).abs() < 1e-12);
        assert_eq!((acc.min, acc.max), (0.8, 1.0));
    }

    #[test]
    fn merging_equals_pushing_everything() {
        let xs = [0.5, 0.9, 1.3, 2.0, 0.1, 0.7];
        let mut all = Accumulator::default();
        for x in xs {
            all.push(x);
        }
        let (mut a, mut b) = (Accumulator::default(), Accumulator::default());
        for &x in &xs[..2] {
            a.push(x);
        }
        for &x in &xs[2..] {
            b.push(x);
        }
        a.merge(&b);
        assert_eq!(a.count, all.count);
        assert!((a.mean().unwrap() - all.mean().unwrap()).abs() < 1e-12);
        assert!((a.std().unwrap() - all.std().unwrap()).abs() < 1e-12);
        assert_eq!((a.min, a.max), (all.min, all.max));
    }

    #[test]
    fn groups_by_value_with_missing_last() {
        let d = docs("lr: 0.1\nACC: 1\n---\nACC: 5\n---\nlr: 0.01\nACC: 2\n---\nlr: 0.1\nACC: 3\n---\nlr: 0.1\n");
        let spec = AggregateSpec {
            group_by: vec!["lr".into()],
            agg: vec!["ACC".into()],
            stats: true,
            ..AggregateSpec::default()
        };
        let groups = aggregate(&spec, &d, true, false);
        let summary: Vec<(Option<Value>, usize, usize)> = groups
            .iter()
            .map(|g| (g.values[0].clone(), g.n, g.accumulators[0].count))
            .collect();
        assert_eq!(
            summary,
            [
                (Some(Value::from(0.01)), 1, 1),
                (Some(Value::from(0.1)), 3, 2),
                (None, 1, 1)
            ]
        );
        let (columns, rows) = table(&spec, &groups);
        assert_eq!(columns, ["lr", "n", "ACC", "ACC min", "ACC max"]);
        assert_eq!(rows[1][2].as_ref().unwrap().text, "2.0 ± 1.4 (n=2)");
        let recs = records(&spec, &groups);
        assert_eq!(recs[2]["lr"], Value::Null);
        assert_eq!(recs[0]["ACC_std"], Value::Null);
    }

    #[test]
    fn each_run_counts_once_across_parts_and_only_when_done() {
        let spec = AggregateSpec {
            group_by: vec!["lr".into()],
            agg: vec!["ACC".into()],
            ..AggregateSpec::default()
        };
        let d = docs(
            "{lr: 1, ACC: 1, STATUS: done, RUN_DIR: a}\n---\n{lr: 2, ACC: 5, RUN_DIR: c}\n\
             ---\n{lr: 1, ACC: 3, STATUS: interrupted, RUN_DIR: b}\n---\n\
             {lr: 1, ACC: 1, STATUS: done, RUN_DIR: a, CACHED: true}\n---\n\
             {lr: 2, ACC: 5, RUN_DIR: c, CACHED: true}\n---\n{lr: 1, ACC: 2}\n",
        );
        // Split in two parts as two threads would, the copies in the second.
        let (mut first, mut second) = (Aggregator::default(), Aggregator::default());
        for doc in &d[..3] {
            first.add(&spec, doc);
        }
        for doc in &d[3..] {
            second.add(&spec, doc);
        }
        first.merge(second);
        assert_eq!(first.documents(), 6);
        assert_eq!(first.left_out.copies, 2);
        assert_eq!(first.left_out.statuses["interrupted"], 1);
        let note = first.left_out.note().unwrap();
        assert!(
            note.contains("2 copies") && note.contains("1 `interrupted`"),
            "{note}"
        );
        let groups = first.finish(true, false);
        let n: Vec<(usize, f64)> = groups
            .iter()
            .map(|g| (g.n, g.accumulators[0].mean().unwrap()))
            .collect();
        assert_eq!(n, [(2, 1.5), (1, 5.0)]);
    }

    #[test]
    fn decimals_follow_the_std() {
        assert_eq!(decimals(0.8123, Some(0.0123)), 3);
        assert_eq!(decimals(2500.1, Some(1400.5)), 0);
        assert_eq!(decimals(0.5, None), 4);
    }
}
