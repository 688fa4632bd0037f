//! The results table's query: `filter`'s expressions (`--filter`, `--sort`,
//! `--reverse`, `--group-by`, `--agg`) read from a URL's query string,
//! answered from the runs in memory, and paged.
//!
//! Query string keys (repeat `filter` and `sort` as the CLI repeats the
//! flags; an empty value is ignored): `filter`, `sort`, `reverse` (`1`,
//! the default: newest first without `sort`; `0`), `group_by` (keys
//! separated by commas or spaces), `agg` (keys separated by commas; with
//! `group_by` and no `agg`, every result key), `columns` (keys separated by
//! commas; default: every parameter and result key), `page` (from 1),
//! `per` (rows per page, 50, at most 1000), `x` and `y` (the plot's
//! parameter and metric).

use std::fmt::Write as _;
use std::sync::Arc;

use super::data::{Kind, Run, Runs};
use super::tally::Tally;
use crate::expr::{BoundDocument, DocumentExpr, Sandbox};
use crate::filter::aggregate::{AggregateSpec, Aggregator, Group};
use crate::filter::sort::{cmp_keys, SortKey};

pub(crate) const PER_PAGE: usize = 50;
pub(crate) const MAX_PER_PAGE: usize = 1000;

/// A query as the URL gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Params {
    pub(crate) filters: Vec<String>,
    pub(crate) sorts: Vec<String>,
    pub(crate) reverse: bool,
    pub(crate) group_by: Vec<String>,
    pub(crate) agg: Vec<String>,
    pub(crate) columns: Vec<String>,
    pub(crate) page: usize,
    pub(crate) per: usize,
    pub(crate) x: Option<String>,
    pub(crate) y: Option<String>,
    /// `plot=parallel`: parallel coordinates of `axes` against `y`.
    pub(crate) parallel: bool,
    pub(crate) axes: Vec<String>,
}

/// Decode `application/x-www-form-urlencoded` text (`+` is a space).
pub(crate) fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(hi), Some(lo)) => {
                        out.push((hi * 16 + lo) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Encode a value for a query string.
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The `(key, value)` pairs of a query string, decoded.
pub(crate) fn pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn split_keys(text: &str, spaces: bool) -> impl Iterator<Item = String> + '_ {
    text.split(move |c: char| c == ',' || (spaces && c.is_whitespace()))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
}

impl Params {
    pub(crate) fn parse(query: &str) -> Self {
        let mut params = Self {
            reverse: true,
            page: 1,
            per: PER_PAGE,
            ..Self::default()
        };
        for (key, value) in pairs(query) {
            let value = value.trim();
            match key.as_str() {
                "filter" if !value.is_empty() => params.filters.push(value.to_owned()),
                "sort" if !value.is_empty() => params.sorts.push(value.to_owned()),
                "reverse" => params.reverse = !matches!(value, "0" | "false" | "no"),
                "group_by" => params.group_by.extend(split_keys(value, true)),
                "agg" => params.agg.extend(split_keys(value, false)),
                "columns" => params.columns.extend(split_keys(value, false)),
                "page" => params.page = value.parse().unwrap_or(1).max(1),
                "per" => params.per = value.parse().unwrap_or(PER_PAGE).clamp(1, MAX_PER_PAGE),
                "x" if !value.is_empty() => params.x = Some(value.to_owned()),
                "y" if !value.is_empty() => params.y = Some(value.to_owned()),
                "plot" => params.parallel = value == "parallel",
                "axes" => params.axes.extend(split_keys(value, true)),
                _ => {}
            }
        }
        params
    }

    /// The query string that gives these parameters back, with `page`
    /// replaced (for the pager's links).
    pub(crate) fn to_query(&self, page: usize) -> String {
        let mut out = Vec::new();
        for f in &self.filters {
            out.push(format!("filter={}", encode(f)));
        }
        for s in &self.sorts {
            out.push(format!("sort={}", encode(s)));
        }
        if !self.reverse {
            out.push("reverse=0".to_owned());
        }
        for (key, list) in [
            ("group_by", &self.group_by),
            ("agg", &self.agg),
            ("columns", &self.columns),
            ("axes", &self.axes),
        ] {
            if !list.is_empty() {
                out.push(format!("{key}={}", encode(&list.join(","))));
            }
        }
        for (key, value) in [("x", &self.x), ("y", &self.y)] {
            if let Some(value) = value {
                out.push(format!("{key}={}", encode(value)));
            }
        }
        if self.parallel {
            out.push("plot=parallel".to_owned());
        }
        if self.per != PER_PAGE {
            out.push(format!("per={}", self.per));
        }
        if page > 1 {
            out.push(format!("page={page}"));
        }
        out.join("&")
    }

    /// What an answer depends on (not the page or the columns).
    pub(crate) fn selection_key(&self) -> Self {
        Self {
            columns: Vec::new(),
            page: 1,
            per: PER_PAGE,
            ..self.clone()
        }
    }

    /// The aggregation, with every result key when `agg` is not given.
    pub(crate) fn aggregate_spec(&self, runs: &Runs) -> Option<AggregateSpec> {
        if self.group_by.is_empty() && self.agg.is_empty() {
            return None;
        }
        let agg = if self.agg.is_empty() {
            runs.keys_of(Kind::Result)
                .into_iter()
                .map(str::to_owned)
                .collect()
        } else {
            self.agg.clone()
        };
        Some(AggregateSpec {
            group_by: self.group_by.clone(),
            agg,
            ..AggregateSpec::default()
        })
    }
}

/// A query's answer before paging.
#[derive(Debug, Default)]
pub(crate) struct Answer {
    /// Finished runs that pass the filters (shared with the selection
    /// they come from), read backwards when `backwards`.
    pub(crate) runs: Arc<Vec<Arc<Run>>>,
    pub(crate) backwards: bool,
    /// Finished runs in the store.
    pub(crate) finished: usize,
    /// With `group_by`/`agg`.
    pub(crate) groups: Option<(AggregateSpec, Vec<Group>)>,
    /// The plot's groups (`plot::spec`), when there is something to plot.
    pub(crate) plot: Option<(AggregateSpec, Vec<Group>)>,
    /// `warning: ...` lines, as `filter` prints them on stderr.
    pub(crate) warnings: Vec<String>,
}

impl Answer {
    /// How many runs matched.
    pub(crate) fn matched(&self) -> usize {
        self.runs.len()
    }

    /// Runs `first..first + per` in the answer's order.
    pub(crate) fn page(&self, first: usize, per: usize) -> Vec<&Arc<Run>> {
        let len = self.runs.len();
        let end = (first + per).min(len);
        if first >= end {
            return Vec::new();
        }
        if self.backwards {
            self.runs[len - end..len - first].iter().rev().collect()
        } else {
            self.runs[first..end].iter().collect()
        }
    }
}

/// A bad query (an expression that does not compile): shown, status 400.
#[derive(Debug)]
pub(crate) struct BadQuery(pub(crate) String);

/// The compiled expressions.
struct Compiled {
    filters: Vec<DocumentExpr>,
    sorts: Vec<DocumentExpr>,
    names: Vec<String>,
}

fn compile(sandbox: &Sandbox, params: &Params) -> Result<Compiled, BadQuery> {
    let compile = |flag: &str, texts: &[String]| -> Result<Vec<DocumentExpr>, BadQuery> {
        texts
            .iter()
            .map(|text| {
                sandbox.compile_document_expr(text).map_err(|err| {
                    BadQuery(crate::commands::filter::expr_message(flag, text, &err))
                })
            })
            .collect()
    };
    let filters = compile("filter", &params.filters)?;
    let sorts = compile("sort", &params.sorts)?;
    let mut names: Vec<String> = filters
        .iter()
        .chain(&sorts)
        .filter_map(|e| e.param.clone())
        .collect();
    names.sort();
    names.dedup();
    Ok(Compiled {
        filters,
        sorts,
        names,
    })
}

/// One run's verdict: `None` when filtered out, else its sort keys.
struct Verdict {
    keep: bool,
    keys: Vec<SortKey>,
    /// (expression index among filters then sorts, message)
    failure: Option<(usize, String)>,
}

fn judge(sandbox: &Sandbox, c: &Compiled, run: &Run) -> Verdict {
    let mut verdict = Verdict {
        keep: true,
        keys: Vec::new(),
        failure: None,
    };
    if c.filters.is_empty() && c.sorts.is_empty() {
        return verdict;
    }
    let mut bound = BoundDocument::from_mapping(&run.doc, &c.names);
    for (i, expr) in c.filters.iter().enumerate() {
        match expr.eval_bool(sandbox, &mut bound) {
            Ok(true) => {}
            Ok(false) => {
                verdict.keep = false;
                return verdict;
            }
            Err(err) => {
                verdict.keep = false;
                verdict.failure = Some((i, err.to_string()));
                return verdict;
            }
        }
    }
    for (i, expr) in c.sorts.iter().enumerate() {
        verdict
            .keys
            .push(match expr.eval_value(sandbox, &mut bound) {
                Ok(value) => SortKey::from_value(&value),
                Err(err) => {
                    verdict
                        .failure
                        .get_or_insert((c.filters.len() + i, err.to_string()));
                    SortKey::Missing
                }
            });
    }
    verdict
}

/// A query's selection kept up to date (queries without `sort`): the
/// finished runs that pass the filters, in id order, and the groups asked
/// of them so far. Each change of the runs judges and counts only the runs
/// that finished since.
pub(crate) struct Selection {
    filters: Vec<String>,
    /// [`Runs::epoch`] it follows.
    epoch: u64,
    /// How many of [`Runs::finished`] it has seen.
    upto: usize,
    /// Shared with the answers made from it (copied on change only while
    /// one of them is still being written out).
    kept: Arc<Vec<Arc<Run>>>,
    /// Per filter: how many runs it failed on, and the first.
    failures: Vec<(usize, Option<String>)>,
    tallies: Vec<Tally>,
}

/// Selections kept at most; groupings kept per selection at most.
const SELECTIONS: usize = 8;
const TALLIES: usize = 6;

impl Selection {
    fn new(filters: &[String]) -> Self {
        Self {
            filters: filters.to_vec(),
            epoch: u64::MAX,
            upto: 0,
            kept: Arc::default(),
            failures: vec![(0, None); filters.len()],
            tallies: Vec::new(),
        }
    }

    /// Judge the runs that finished since the last call.
    fn update(&mut self, sandbox: &Sandbox, c: &Compiled, runs: &Runs) -> Result<(), BadQuery> {
        if self.epoch != runs.epoch() || self.upto > runs.finished().len() {
            *self = Self::new(&self.filters);
            self.epoch = runs.epoch();
        }
        let new: Vec<&Arc<Run>> = runs.finished()[self.upto..].iter().collect();
        if new.is_empty() {
            return Ok(());
        }
        let verdicts = judge_all(sandbox, c, &new);
        refused(c)?;
        let mut broken = vec![false; self.tallies.len()];
        for (run, verdict) in new.into_iter().zip(verdicts) {
            if let Some((i, message)) = verdict.failure {
                self.failures[i].0 += 1;
                self.failures[i]
                    .1
                    .get_or_insert(format!("run {} `{}`: {message}", run.id, run.name));
            }
            if !verdict.keep {
                continue;
            }
            let kept = Arc::make_mut(&mut self.kept);
            if kept.last().is_none_or(|last| last.id < run.id) {
                kept.push(Arc::clone(run));
            } else {
                let at = kept.partition_point(|r| r.id < run.id);
                kept.insert(at, Arc::clone(run));
            }
            for (tally, broken) in self.tallies.iter_mut().zip(&mut broken) {
                *broken |= tally.add(run).is_err();
            }
        }
        for (tally, broken) in self.tallies.iter_mut().zip(broken) {
            if broken {
                *tally = Tally::of(tally.spec.clone(), self.kept.iter());
            }
        }
        self.upto = runs.finished().len();
        Ok(())
    }

    /// The groups of `spec` over the selection.
    fn groups(&mut self, spec: &AggregateSpec) -> Vec<Group> {
        let same = |t: &Tally| t.spec.group_by == spec.group_by && t.spec.agg == spec.agg;
        if let Some(tally) = self.tallies.iter().find(|t| same(t)) {
            return tally.groups();
        }
        let tally = Tally::of(spec.clone(), self.kept.iter());
        let groups = tally.groups();
        if self.tallies.len() >= TALLIES {
            self.tallies.remove(0);
        }
        self.tallies.push(tally);
        groups
    }

    fn warnings(&self) -> Vec<String> {
        self.failures
            .iter()
            .zip(&self.filters)
            .filter_map(|((count, first), text)| {
                first.as_ref().map(|first| {
                    format!(
                        "warning: `filter` expression `{text}` failed on {count} run(s) (counted \
                         as false); the first, {first}"
                    )
                })
            })
            .collect()
    }
}

/// The sandbox refused an expression while it ran: bad input.
fn refused(c: &Compiled) -> Result<(), BadQuery> {
    match c
        .filters
        .iter()
        .chain(&c.sorts)
        .find_map(|e| e.refusal().map(|r| (e, r)))
    {
        Some((expr, err)) => Err(BadQuery(crate::commands::filter::expr_message(
            "filter", &expr.text, err,
        ))),
        None => Ok(()),
    }
}

/// Answer `params` over the finished runs of `runs`: from the kept
/// selection brought up to date when there is no `sort`, else afresh.
pub(crate) fn answer(
    sandbox: &Sandbox,
    runs: &Runs,
    params: &Params,
    with_plot: bool,
    selections: &mut Vec<Selection>,
) -> Result<Answer, BadQuery> {
    let compiled = compile(sandbox, params)?;
    if !compiled.sorts.is_empty() {
        return answer_sorted(sandbox, runs, params, with_plot, &compiled);
    }
    let at = match selections.iter().position(|s| s.filters == params.filters) {
        Some(at) => at,
        None => {
            if selections.len() >= SELECTIONS {
                selections.remove(0);
            }
            selections.push(Selection::new(&params.filters));
            selections.len() - 1
        }
    };
    // The most recently used last.
    let mut selection = selections.remove(at);
    selection.update(sandbox, &compiled, runs)?;
    let groups = params
        .aggregate_spec(runs)
        .map(|spec| (selection.groups(&spec), spec))
        .map(|(groups, spec)| (spec, groups));
    let plot = with_plot
        .then(|| super::plot::spec(runs, params))
        .flatten()
        .map(|spec| {
            let groups = selection.groups(&spec);
            (spec, groups)
        });
    let answer = Answer {
        runs: Arc::clone(&selection.kept),
        backwards: params.reverse,
        finished: runs.finished().len(),
        groups,
        plot,
        warnings: selection.warnings(),
    };
    selections.push(selection);
    Ok(answer)
}

/// A query with `sort`: every finished run judged again.
fn answer_sorted(
    sandbox: &Sandbox,
    runs: &Runs,
    params: &Params,
    with_plot: bool,
    compiled: &Compiled,
) -> Result<Answer, BadQuery> {
    let finished: Vec<&Arc<Run>> = runs.all().iter().filter(|r| !r.is_running()).collect();
    let verdicts = judge_all(sandbox, compiled, &finished);
    refused(compiled)?;
    let mut warnings = Vec::new();
    let mut failures =
        vec![(0usize, None::<String>); compiled.filters.len() + compiled.sorts.len()];
    let mut kept: Vec<(&Arc<Run>, Vec<SortKey>)> = Vec::new();
    for (run, verdict) in finished.iter().zip(verdicts) {
        if let Some((i, message)) = verdict.failure {
            failures[i].0 += 1;
            failures[i]
                .1
                .get_or_insert(format!("run {} `{}`: {message}", run.id, run.name));
        }
        if verdict.keep {
            kept.push((run, verdict.keys));
        }
    }
    for (i, (count, first)) in failures.into_iter().enumerate() {
        if let Some(first) = first {
            let (flag, text, counted) = if i < compiled.filters.len() {
                ("filter", &compiled.filters[i].text, "false")
            } else {
                (
                    "sort",
                    &compiled.sorts[i - compiled.filters.len()].text,
                    "a missing key, sorted last",
                )
            };
            warnings.push(format!(
                "warning: `{flag}` expression `{text}` failed on {count} run(s) (counted as \
                 {counted}); the first, {first}"
            ));
        }
    }
    kept.sort_by(|a, b| cmp_keys(&a.1, &b.1, params.reverse));
    let runs_kept: Vec<Arc<Run>> = kept.into_iter().map(|(r, _)| Arc::clone(r)).collect();
    let groups = params.aggregate_spec(runs).map(|spec| {
        // In the order the sorted runs show the groups, as `filter --sort`.
        let mut aggregator = Aggregator::default();
        for run in &runs_kept {
            aggregator.add(&spec, &run.doc);
        }
        let groups = aggregator.finish(false, false);
        (spec, groups)
    });
    let plot = with_plot
        .then(|| super::plot::spec(runs, params))
        .flatten()
        .map(|spec| {
            let mut by_id: Vec<&Arc<Run>> = runs_kept.iter().collect();
            by_id.sort_by_key(|r| r.id);
            let groups = Tally::of(spec.clone(), by_id).groups();
            (spec, groups)
        });
    Ok(Answer {
        runs: Arc::new(runs_kept),
        backwards: false,
        finished: finished.len(),
        groups,
        plot,
        warnings,
    })
}

/// Judge every run, on every core when there are many and expressions.
fn judge_all(sandbox: &Sandbox, c: &Compiled, runs: &[&Arc<Run>]) -> Vec<Verdict> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    if threads < 2 || runs.len() < 2_000 || (c.filters.is_empty() && c.sorts.is_empty()) {
        return runs.iter().map(|r| judge(sandbox, c, r)).collect();
    }
    let per = runs.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = runs
            .chunks(per)
            .map(|chunk| {
                std::thread::Builder::new()
                    .stack_size(crate::expr::EVAL_STACK_SIZE)
                    .spawn_scoped(scope, move || {
                        chunk
                            .iter()
                            .map(|r| judge(sandbox, c, r))
                            .collect::<Vec<_>>()
                    })
                    .expect("start a query thread")
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a query thread panicked"))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_round_trip() {
        let p = Params::parse("filter=exp.lr+%3E+0.1&sort=exp.ACC&reverse=0&group_by=lr+seed&agg=ACC,LOSS&page=3&per=20&x=lr&plot=parallel&axes=lr,seed");
        assert_eq!(p.filters, ["exp.lr > 0.1"]);
        assert_eq!(p.sorts, ["exp.ACC"]);
        assert!(!p.reverse);
        assert_eq!(p.group_by, ["lr", "seed"]);
        assert_eq!(p.agg, ["ACC", "LOSS"]);
        assert_eq!((p.page, p.per), (3, 20));
        assert!(p.parallel);
        assert_eq!(p.axes, ["lr", "seed"]);
        assert_eq!(Params::parse(&p.to_query(3)), p);
        assert_eq!(decode("a%2"), "a%2");
        assert_eq!(decode("%e2%82%ac"), "€");
    }
}
