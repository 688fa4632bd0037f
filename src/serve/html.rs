//! The page, rendered on the server: it shows everything with JavaScript
//! off. Parts of it (`/fragment/...`) are served alone too, for the
//! script to swap in on events and form changes. No inline script or
//! style (`Content-Security-Policy: default-src 'self'`).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use chrono::{DateTime, Local};
use yaml_serde::Value;

use super::data::{Kind, Run, Runs};
use super::query::{Answer, BadQuery, Params};
use super::Shared;
use crate::commands::status::{alive, seconds, QueueView};
use crate::filter::format::{inline, lookup};

/// Escape text for HTML.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn head(shared: &Shared, title: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><link rel=stylesheet href=/static/style.css>\
         <link rel=icon href=/static/icon.svg>\
         <script src=/static/app.js defer></script></head><body data-seq={}>\n",
        esc(title),
        seq(shared)
    )
}

fn header(shared: &Shared, runs: &Runs) -> String {
    format!(
        "<header><h1><a href=/>cool-runner</a></h1><span class=store title=\"results store\">{}</span>\
         <span id=summary data-fragment=/fragment/summary data-on=runs>{}</span>\
         <span id=live class=off title=\"live updates (server-sent events)\">static</span></header>\n",
        esc(&shared.config.store.display().to_string()),
        summary(shared, runs)
    )
}

/// `12 runs: 10 done, 1 failed, 1 running`
pub(crate) fn summary(shared: &Shared, runs: &Runs) -> String {
    let error = shared
        .store_error
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    if let Some(error) = error {
        return format!("<span class=error>{}</span>", esc(&error));
    }
    if runs.all().is_empty() && !shared.config.store.exists() {
        return "no store yet: the page fills once runs are recorded".to_owned();
    }
    let counts: Vec<String> = runs
        .counts()
        .iter()
        .map(|(s, n)| format!("<span class=\"st {0}\">{n} {0}</span>", esc(s)))
        .collect();
    format!("{} runs: {}", runs.all().len(), counts.join(", "))
}

/// The whole page.
pub(crate) fn page(
    shared: &Shared,
    runs: &Runs,
    params: &Params,
    answer: &Result<std::sync::Arc<Answer>, BadQuery>,
) -> String {
    let mut out = head(shared, "cool-runner");
    out.push_str(&header(shared, runs));
    out.push_str(
        "<main>\n<section id=running data-fragment=/fragment/running data-on=\"runs running\">",
    );
    out.push_str(&running(shared, runs));
    out.push_str(
        "</section>\n<section id=queue data-fragment=/fragment/queue data-on=\"runs queue\">",
    );
    out.push_str(&queue(shared, runs));
    out.push_str("</section>\n<section id=results><h2>Results</h2>\n");
    out.push_str(&form(runs, params));
    let _ = write!(
        out,
        "<div id=answer data-fragment=\"/fragment/results?{}\" data-on=runs>",
        esc(&params.to_query(params.page))
    );
    out.push_str(&results(runs, params, answer));
    out.push_str("</div></section>\n</main></body></html>\n");
    out
}

/// The running experiments, with the last lines of their output.
pub(crate) fn running(shared: &Shared, runs: &Runs) -> String {
    let list: Vec<&std::sync::Arc<Run>> = runs.running().collect();
    let mut out = format!("<h2>Running ({})</h2>", list.len());
    if list.is_empty() {
        out.push_str("<p class=empty>nothing runs now</p>");
        return out;
    }
    out.push_str("<table class=running><thead><tr><th>#</th><th>Name</th><th>slot</th><th>host</th><th>job</th><th>elapsed</th><th>last output</th></tr></thead><tbody>\n");
    let now = Local::now();
    let here = crate::commands::run::host_name();
    for run in list {
        let elapsed = DateTime::parse_from_rfc3339(&run.started_at)
            .ok()
            .map(|t| seconds((now - t.with_timezone(&Local)).as_seconds_f64()));
        let stale = if run.host == here && !alive(run.runner_pid) {
            " <span class=stale title=\"its runner is gone\">stale</span>"
        } else {
            ""
        };
        let tail = output_tail(shared, run, "stdout.log", 4);
        let _ = writeln!(
            out,
            "<tr data-href=/run/{id}><td><a href=/run/{id}>{id}</a></td><td>{}{stale}</td><td class=num>{}</td><td>{}</td><td>{}</td><td class=num>{}</td><td><pre class=tail>{}</pre></td></tr>",
            esc(&run.name),
            run.slot.map_or_else(String::new, |s| s.to_string()),
            esc(&run.host),
            esc(run.pid.as_deref().unwrap_or("")),
            elapsed.unwrap_or_default(),
            esc(&tail.join("\n")),
            id = run.id,
        );
    }
    out.push_str("</tbody></table>");
    out
}

/// The pending experiments of the queue file.
pub(crate) fn queue(shared: &Shared, runs: &Runs) -> String {
    let mut out = String::from("<h2>Queue</h2>");
    if !shared.config.queue_known {
        out.push_str("<p class=empty>not known here: start with <code>--exp FILE</code> (its <code>Global.queue</code>) to see the pending experiments</p>");
        return out;
    }
    let view = QueueView::read_first(shared.config.queue.as_deref(), 20);
    let Some(path) = &view.path else {
        out.push_str("<p class=empty>kept in the runner's memory (<code>Global.queue: null</code>), not visible here</p>");
        return out;
    };
    if let Some(error) = &view.error {
        let _ = write!(
            out,
            "<p class=error>cannot read <code>{}</code>: {}</p>",
            esc(path),
            esc(error)
        );
        return out;
    }
    let _ = write!(
        out,
        "<p>{} pending in <code>{}</code>{}</p>",
        view.pending,
        esc(path),
        if view.pending > 0 {
            format!(
                ", each waiting for a free slot ({} running now), in this order:",
                runs.running_ids().len()
            )
        } else {
            String::new()
        }
    );
    if !view.next.is_empty() {
        out.push_str("<ol class=queue>");
        for name in &view.next {
            // Pipelines: what it waits for, when it does.
            let waits = view
                .waits
                .iter()
                .find(|(waiting, _)| waiting == name)
                .map(|(_, parents)| {
                    format!(
                        " <span class=waits>waits for {}</span>",
                        esc(&parents.join(", "))
                    )
                })
                .unwrap_or_default();
            let _ = write!(out, "<li>{}{waits}</li>", esc(name));
        }
        if view.pending > view.next.len() {
            let _ = write!(
                out,
                "<li class=more>… {} more</li>",
                view.pending - view.next.len()
            );
        }
        out.push_str("</ol>");
    }
    out
}

fn input(name: &str, label: &str, value: &str, placeholder: &str, size: usize) -> String {
    format!(
        "<label>{label} <input name={name} value=\"{}\" placeholder=\"{}\" size={size}></label>",
        esc(value),
        esc(placeholder)
    )
}

fn select(name: &str, label: &str, options: &[&str], chosen: Option<&str>) -> String {
    let mut out = format!("<label>{label} <select name={name}><option value=\"\">–</option>");
    for option in options {
        let selected = if Some(*option) == chosen {
            " selected"
        } else {
            ""
        };
        let _ = write!(out, "<option{selected}>{}</option>", esc(option));
    }
    out.push_str("</select></label>");
    out
}

/// The query form: a plain GET form (works without JavaScript).
fn form(runs: &Runs, params: &Params) -> String {
    let parameters = runs.keys_of(Kind::Parameter);
    let results = runs.keys_of(Kind::Result);
    let mut out = String::from("<form id=query method=get action=/>");
    out.push_str(&input(
        "filter",
        "filter",
        &params.filters.join(" && "),
        "exp.lr > 0.01 && exp.ACC > 0.5",
        36,
    ));
    out.push_str(&input(
        "sort",
        "sort",
        &params.sorts.join(""),
        "exp.ACC",
        14,
    ));
    let _ = write!(
        out,
        "<label>order <select name=reverse><option value=1{}>descending / newest first</option><option value=0{}>ascending / oldest first</option></select></label>",
        if params.reverse { " selected" } else { "" },
        if params.reverse { "" } else { " selected" }
    );
    out.push_str(&input(
        "group_by",
        "group by",
        &params.group_by.join(" "),
        "lr",
        12,
    ));
    out.push_str(&input(
        "agg",
        "mean ± std of",
        &params.agg.join(","),
        "every result",
        14,
    ));
    let _ = write!(
        out,
        "<label>plot <select name=plot><option value=\"\">a metric against one parameter</option><option value=parallel{}>parallel coordinates</option></select></label>",
        if params.parallel { " selected" } else { "" }
    );
    out.push_str(&select("x", "parameter", &parameters, params.x.as_deref()));
    out.push_str(&input(
        "axes",
        "or axes",
        &params.axes.join(","),
        &parameters
            .iter()
            .take(super::parallel::DEFAULT_AXES)
            .copied()
            .collect::<Vec<_>>()
            .join(","),
        16,
    ));
    out.push_str(&select("y", "metric", &results, params.y.as_deref()));
    out.push_str("<details><summary>columns</summary>");
    for key in parameters
        .iter()
        .chain(&results)
        .chain(&runs.keys_of(Kind::Runner))
    {
        let checked = if params.columns.iter().any(|c| c == key) {
            " checked"
        } else {
            ""
        };
        let _ = write!(
            out,
            "<label class=col><input type=checkbox name=columns value=\"{0}\"{checked}>{0}</label>",
            esc(key)
        );
    }
    out.push_str(
        "</details><button type=submit>apply</button> <a href=/ class=reset>reset</a></form>\n",
    );
    out
}

/// The results table (or groups), its pager, warnings and the plot.
pub(crate) fn results(
    runs: &Runs,
    params: &Params,
    answer: &Result<std::sync::Arc<Answer>, BadQuery>,
) -> String {
    let answer = match answer {
        Ok(answer) => answer,
        Err(BadQuery(message)) => {
            return format!("<pre class=error id=query-error>{}</pre>", esc(message))
        }
    };
    let mut out = String::new();
    for warning in &answer.warnings {
        let _ = write!(out, "<p class=warning>{}</p>", esc(warning));
    }
    out.push_str("<div class=side-by-side><div class=table-part>");
    if let Some((spec, groups)) = &answer.groups {
        out.push_str(&groups_table(spec, groups, answer.matched()));
    } else {
        out.push_str(&runs_table(runs, params, answer));
    }
    out.push_str("</div>");
    out.push_str(&super::plot::figure(params, answer));
    out.push_str("</div>");
    out
}

fn groups_table(
    spec: &crate::filter::aggregate::AggregateSpec,
    groups: &[crate::filter::aggregate::Group],
    matched: usize,
) -> String {
    let (columns, rows) = crate::filter::aggregate::table(spec, groups);
    let mut out = format!(
        "<p class=count id=count>{} groups of {} matching runs (mean ± std over the <code>done</code> runs of each group; n = runs)</p>",
        groups.len(),
        matched
    );
    out.push_str("<table class=\"runs groups\"><thead><tr>");
    for (i, column) in columns.iter().enumerate() {
        let class = if i < spec.group_by.len() {
            "param"
        } else {
            "result"
        };
        let _ = write!(out, "<th class={class}>{}</th>", esc(column));
    }
    out.push_str("</tr></thead><tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            match cell {
                Some(cell) if cell.numeric => {
                    let _ = write!(out, "<td class=num>{}</td>", esc(&cell.text));
                }
                Some(cell) => {
                    let _ = write!(out, "<td>{}</td>", esc(&cell.text));
                }
                None => out.push_str("<td></td>"),
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>");
    out
}

/// A sort link for a column header: sort by it, or flip the order.
fn sort_link(params: &Params, key: &str, label: &str) -> String {
    let expr = format!("exp[{}]", serde_json::Value::from(key));
    let mut next = params.clone();
    let current = params.sorts.len() == 1 && params.sorts[0] == expr;
    next.reverse = if current { !params.reverse } else { true };
    next.sorts = vec![expr];
    let arrow = match (current, params.reverse) {
        (true, true) => " ▼",
        (true, false) => " ▲",
        _ => "",
    };
    format!(
        "<a href=\"/?{}\" data-query>{}{arrow}</a>",
        esc(&next.to_query(1)),
        esc(label)
    )
}

fn runs_table(runs: &Runs, params: &Params, answer: &Answer) -> String {
    let (parameters, results): (Vec<&str>, Vec<&str>) = if params.columns.is_empty() {
        (runs.keys_of(Kind::Parameter), runs.keys_of(Kind::Result))
    } else {
        let chosen: Vec<&str> = params.columns.iter().map(String::as_str).collect();
        chosen
            .iter()
            .partition(|k| super::data::kind_of(k) != Kind::Result)
    };
    let total = answer.matched();
    let first = (params.page - 1) * params.per;
    let page = answer.page(first, params.per);
    let mut out = format!(
        "<p class=count id=count>{} of {} finished runs{}</p>",
        total,
        answer.finished,
        if total > params.per {
            format!(", {}–{} shown", first + 1, first + page.len())
        } else {
            String::new()
        }
    );
    out.push_str("<table class=runs id=runs><thead><tr><th colspan=4 class=meta>run</th>");
    if !parameters.is_empty() {
        let _ = write!(
            out,
            "<th colspan={} class=param>parameters</th>",
            parameters.len()
        );
    }
    if !results.is_empty() {
        let _ = write!(
            out,
            "<th colspan={} class=result>results</th>",
            results.len()
        );
    }
    out.push_str("</tr><tr><th>#</th>");
    let _ = write!(
        out,
        "<th>{}</th><th>{}</th><th>{}</th>",
        sort_link(params, "Name", "Name"),
        sort_link(params, "STATUS", "status"),
        sort_link(params, "TIME_ELAPSED", "time")
    );
    for key in &parameters {
        let _ = write!(out, "<th class=param>{}</th>", sort_link(params, key, key));
    }
    for key in &results {
        let _ = write!(out, "<th class=result>{}</th>", sort_link(params, key, key));
    }
    out.push_str("</tr></thead><tbody>\n");
    for run in page {
        let _ = write!(
            out,
            "<tr data-href=/run/{id}><td class=num><a href=/run/{id}>{id}</a></td><td>{name}</td><td class=\"st {status}\">{status}</td><td class=num>{elapsed}</td>",
            name = esc(&run.name),
            status = esc(&run.status),
            elapsed = run.elapsed.map_or_else(String::new, seconds),
            id = run.id,
        );
        for key in parameters.iter().chain(&results) {
            out.push_str(&cell(lookup(&run.doc, key)));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>");
    out.push_str(&pager(params, total));
    out
}

fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "<td></td>".to_owned(),
        Some(value @ Value::Number(_)) => format!("<td class=num>{}</td>", esc(&inline(value))),
        Some(value) => format!("<td>{}</td>", esc(&inline(value))),
    }
}

fn pager(params: &Params, total: usize) -> String {
    let pages = total.div_ceil(params.per).max(1);
    if pages == 1 {
        return String::new();
    }
    let link = |page: usize, label: &str| {
        format!(
            "<a href=\"/?{}\" data-query>{label}</a>",
            esc(&params.to_query(page))
        )
    };
    let mut out = String::from("<nav class=pager>");
    if params.page > 1 {
        out.push_str(&link(1, "« first"));
        out.push_str(&link(params.page - 1, "‹ previous"));
    }
    let _ = write!(
        out,
        "<span>page {} of {pages}</span>",
        params.page.min(pages)
    );
    if params.page < pages {
        out.push_str(&link(params.page + 1, "next ›"));
        out.push_str(&link(pages, "last »"));
    }
    out.push_str("</nav>");
    out
}

/// The last `lines` lines of a run's output file.
pub(crate) fn output_tail(shared: &Shared, run: &Run, file: &str, lines: usize) -> Vec<String> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let Some(dir) = super::route::run_dir(shared, run) else {
        return Vec::new();
    };
    let Ok(mut f) = std::fs::File::open(dir.join(file)) else {
        return Vec::new();
    };
    let len = f.metadata().map_or(0, |m| m.len());
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(16 * 1024)));
    let mut bytes = Vec::new();
    let _ = f.take(16 * 1024).read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|l| (*l).to_owned())
        .collect()
}

/// One run: its fields, full document, identity and output.
pub(crate) fn run_body(shared: &Shared, run: &Run, identity: Option<(String, String)>) -> String {
    let mut out = format!(
        "<h2>Run #{} <span class=name>{}</span> <span class=\"st {2}\">{2}</span></h2><dl>",
        run.id,
        esc(&run.name),
        esc(&run.status)
    );
    let fields = [
        ("index in the queue", run.index.to_string()),
        (
            "exit code",
            run.exit_code.map_or_else(String::new, |c| c.to_string()),
        ),
        ("started", run.started_at.clone()),
        ("finished", run.finished_at.clone().unwrap_or_default()),
        ("elapsed", run.elapsed.map_or_else(String::new, seconds)),
        ("host", run.host.clone()),
        ("slot", run.slot.map_or_else(String::new, |s| s.to_string())),
        ("job (pid)", run.pid.clone().unwrap_or_default()),
        ("run directory", run.dir.clone().unwrap_or_default()),
    ];
    for (name, value) in fields {
        let _ = write!(out, "<dt>{name}</dt><dd>{}</dd>", esc(&value));
    }
    out.push_str("</dl>");
    let doc = yaml_serde::to_string(&run.doc).unwrap_or_default();
    let what = if run.is_running() {
        "experiment (running)"
    } else {
        "log document"
    };
    let _ = write!(
        out,
        "<h3>{what}</h3><pre class=doc id=document>{}</pre>",
        esc(&doc)
    );
    if let Some((identity, parts)) = identity {
        let _ = write!(
            out,
            "<h3>explain: what its identity is made of</h3><p>identity <code>{}</code>; a later run with the same parts is taken from the cache (<code>cool-runner explain</code> compares an experiment file with the store)</p><pre class=doc>{}</pre>",
            esc(&identity),
            esc(&parts)
        );
    }
    for file in ["stdout.log", "stderr.log"] {
        let tail = output_tail(shared, run, file, 40);
        let _ = write!(
            out,
            "<h3>{file} (last {} lines)</h3><pre class=tail>{}</pre>",
            tail.len(),
            esc(&tail.join("\n"))
        );
    }
    out
}

/// The page of one run.
pub(crate) fn run_page(
    shared: &Shared,
    runs: &Runs,
    run: &Run,
    identity: Option<(String, String)>,
) -> String {
    let mut out = head(shared, &format!("{} · cool-runner", run.name));
    out.push_str(&header(shared, runs));
    let _ = write!(
        out,
        "<main><p><a href=/ class=back>← all runs</a></p><section id=run data-fragment=/fragment/run/{} data-on=\"runs running\">",
        run.id
    );
    out.push_str(&run_body(shared, run, identity));
    out.push_str("</section></main></body></html>\n");
    out
}

pub(crate) fn seq(shared: &Shared) -> u64 {
    shared.seq.load(Ordering::SeqCst)
}
