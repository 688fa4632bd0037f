//! `filter`'s arguments, resolved: expressions compiled (a bad one is an
//! error naming it and the position, before any log is read), the output
//! format chosen, the aggregation checked.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::aggregate::AggregateSpec;
use crate::cli::{FilterArgs, Format};
use crate::error::Error;
use crate::expr::{translate, DocumentExpr, ExprError, Sandbox};

pub struct FilterSettings {
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
}

impl FilterSettings {
    pub fn from_args(args: FilterArgs) -> Result<Self, Error> {
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
        if args.agg_stats && !aggregating {
            return Err(Error::Usage(
                "`--agg-stats` needs `--group-by` or `--agg`; hint: `--group-by lr --agg ACC \
                 --agg-stats`"
                    .to_owned(),
            ));
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
        });
        let format = args.format.unwrap_or(if aggregate.is_some() {
            Format::Table
        } else {
            Format::Yaml
        });
        Ok(Self {
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

/// `invalid `--filter` expression `...`: message`, then the expression as
/// Rhai read it with a caret under the position.
fn expr_message(flag: &str, text: &str, err: &ExprError) -> String {
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
    message
}
