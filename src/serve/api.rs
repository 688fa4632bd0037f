//! The JSON API (README, "Web page"): what the page shows, for scripts.

use std::sync::Arc;

use chrono::{DateTime, Local};
use serde_json::{json, Map, Value as Json};

use super::data::{Run, Runs};
use super::query::{Answer, Params};
use super::Shared;
use crate::commands::status::{alive, QueueView};
use crate::filter::aggregate::records;
use crate::filter::format::lookup;

fn to_json(value: &impl serde::Serialize) -> Json {
    serde_json::to_value(value).unwrap_or(Json::Null)
}

pub(crate) fn error(message: &str) -> String {
    json!({ "error": message }).to_string()
}

fn run_json(run: &Run, columns: &[String]) -> Json {
    let doc = if columns.is_empty() {
        to_json(&run.doc)
    } else {
        let mut doc = Map::new();
        for key in columns {
            if let Some(value) = lookup(&run.doc, key) {
                doc.insert(key.clone(), to_json(value));
            }
        }
        Json::Object(doc)
    };
    json!({
        "id": run.id,
        "index": run.index,
        "name": run.name,
        "status": run.status,
        "exit_code": run.exit_code,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "elapsed": run.elapsed,
        "host": run.host,
        "slot": run.slot,
        "pid": run.pid,
        "run_dir": run.dir,
        "doc": doc,
    })
}

/// `GET /api/runs`: a page of finished runs, or the groups.
pub(crate) fn runs(_runs: &Runs, params: &Params, answer: &Answer) -> String {
    let matched = answer.matched();
    let first = (params.page - 1) * params.per;
    let mut out = json!({
        "finished": answer.finished,
        "matched": matched,
        "page": params.page,
        "per": params.per,
        "pages": matched.div_ceil(params.per).max(1),
        "warnings": answer.warnings,
    });
    if let Some((spec, groups)) = &answer.groups {
        let all: Vec<Json> = records(spec, groups).iter().map(to_json).collect();
        out["group_by"] = to_json(&spec.group_by);
        out["agg"] = to_json(&spec.agg);
        out["groups_total"] = json!(all.len());
        out["pages"] = json!(all.len().div_ceil(params.per).max(1));
        out["groups"] = Json::Array(all.into_iter().skip(first).take(params.per).collect());
    } else {
        let page: Vec<Json> = answer
            .page(first, params.per)
            .into_iter()
            .map(|r| run_json(r, &params.columns))
            .collect();
        out["runs"] = Json::Array(page);
    }
    out.to_string()
}

/// `GET /api/runs/ID`: one run with its document, identity and output.
pub(crate) fn run(shared: &Shared, run: &Arc<Run>, identity: Option<(String, String)>) -> String {
    let mut out = run_json(run, &[]);
    if let Some((identity, parts)) = identity {
        out["identity"] = json!(identity);
        out["identity_parts"] = serde_json::from_str(&parts).unwrap_or(Json::Null);
    }
    out["stdout_tail"] = json!(super::html::output_tail(shared, run, "stdout.log", 40));
    out["stderr_tail"] = json!(super::html::output_tail(shared, run, "stderr.log", 40));
    out.to_string()
}

/// `GET /api/summary`
pub(crate) fn summary(shared: &Shared, runs: &Runs) -> String {
    let counts: Map<String, Json> = runs
        .counts()
        .into_iter()
        .map(|(s, n)| (s.to_owned(), json!(n)))
        .collect();
    let error = shared
        .store_error
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    json!({
        "store": shared.config.store.display().to_string(),
        "store_exists": shared.config.store.exists(),
        "error": error,
        "total": runs.all().len(),
        "counts": counts,
        "running": runs.running_ids().len(),
        "seq": super::html::seq(shared),
        "pages_open": shared.events.count(),
    })
    .to_string()
}

/// `GET /api/running`
pub(crate) fn running(shared: &Shared, runs: &Runs) -> String {
    let now = Local::now();
    let here = crate::commands::run::host_name();
    let list: Vec<Json> = runs
        .running()
        .map(|run| {
            let elapsed = DateTime::parse_from_rfc3339(&run.started_at)
                .ok()
                .map(|t| (now - t.with_timezone(&Local)).as_seconds_f64());
            let mut out = run_json(run, &[]);
            out["elapsed"] = json!(elapsed);
            out["stale"] = json!(run.host == here && !alive(run.runner_pid));
            out["stdout_tail"] = json!(super::html::output_tail(shared, run, "stdout.log", 4));
            out
        })
        .collect();
    Json::Array(list).to_string()
}

/// `GET /api/queue`
pub(crate) fn queue(shared: &Shared) -> String {
    if !shared.config.queue_known {
        return json!({ "known": false }).to_string();
    }
    let view = QueueView::read_first(shared.config.queue.as_deref(), 100);
    let mut out = to_json(&view);
    out["known"] = json!(true);
    out.to_string()
}
