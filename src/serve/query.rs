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
        if self.per != PER_PAGE {
            out.push(format!("per={}", self.per));
        }
        if page > 1 {
            out.push(format!("page={page}"));
        }
        out.join("&")
    }

    /// What the selection depends on (not the page, columns or plot).
    pub(crate) fn selection_key(
        &self,
    ) -> (Vec<String>, Vec<String>, bool, Vec<String>, Vec<String>) {
        (
            self.filters.clone(),
            self.sorts.clone(),
            self.reverse,
            self.group_by.clone(),
            self.agg.clone(),
        )
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
    /// Finished runs that pass the filters, in order.
    pub(crate) runs: Vec<Arc<Run>>,
    /// Finished runs in the store.
    pub(crate) finished: usize,
    /// With `group_by`/`agg`.
    pub(crate) groups: Option<(AggregateSpec, Vec<Group>)>,
    /// `warning: ...` lines, as `filter` prints them on stderr.
    pub(crate) warnings: Vec<String>,
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

/// Answer `params` over the finished runs of `runs`.
pub(crate) fn answer(sandbox: &Sandbox, runs: &Runs, params: &Params) -> Result<Answer, BadQuery> {
    let compiled = compile(sandbox, params)?;
    let finished: Vec<&Arc<Run>> = runs.all().iter().filter(|r| !r.is_running()).collect();
    let verdicts = judge_all(sandbox, &compiled, &finished);
    if let Some((expr, err)) = compiled
        .filters
        .iter()
        .chain(&compiled.sorts)
        .find_map(|e| e.refusal().map(|r| (e, r)))
    {
        return Err(BadQuery(crate::commands::filter::expr_message(
            "filter", &expr.text, err,
        )));
    }
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
    if compiled.sorts.is_empty() {
        if params.reverse {
            kept.reverse();
        }
    } else {
        kept.sort_by(|a, b| cmp_keys(&a.1, &b.1, params.reverse));
    }
    let runs_kept: Vec<Arc<Run>> = kept.into_iter().map(|(r, _)| Arc::clone(r)).collect();
    let groups = params.aggregate_spec(runs).map(|spec| {
        let mut aggregator = Aggregator::default();
        // Oldest first, as `filter` reads the logs: a cache hit's copy is
        // the later document.
        let mut order: Vec<&Arc<Run>> = runs_kept.iter().collect();
        if compiled.sorts.is_empty() {
            order.sort_by_key(|r| r.id);
        }
        for run in order {
            aggregator.add(&spec, &run.doc);
        }
        let groups = aggregator.finish(compiled.sorts.is_empty(), false);
        (spec, groups)
    });
    Ok(Answer {
        runs: runs_kept,
        finished: finished.len(),
        groups,
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
        let p = Params::parse("filter=exp.lr+%3E+0.1&sort=exp.ACC&reverse=0&group_by=lr+seed&agg=ACC,LOSS&page=3&per=20&x=lr");
        assert_eq!(p.filters, ["exp.lr > 0.1"]);
        assert_eq!(p.sorts, ["exp.ACC"]);
        assert!(!p.reverse);
        assert_eq!(p.group_by, ["lr", "seed"]);
        assert_eq!(p.agg, ["ACC", "LOSS"]);
        assert_eq!((p.page, p.per), (3, 20));
        assert_eq!(Params::parse(&p.to_query(3)), p);
        assert_eq!(decode("a%2"), "a%2");
        assert_eq!(decode("%e2%82%ac"), "€");
    }
}
