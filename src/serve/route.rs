//! Requests: the security check, then one handler per path.

use std::io::Cursor;
use std::path::PathBuf;
use std::sync::Arc;

use tiny_http::{Header, Method, Request, Response};

use super::data::Run;
use super::query::{self, Answer, BadQuery, Params};
use super::security::Refusal;
use super::{api, assets, html, Shared};

type Reply = Response<Cursor<Vec<u8>>>;

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a valid header")
}

/// A reply with the headers every answer carries.
pub(crate) fn reply(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
    Response::from_data(body.into())
        .with_status_code(status)
        .with_header(header("Content-Type", content_type))
        .with_header(header("Content-Security-Policy", "default-src 'self'"))
        .with_header(header("X-Content-Type-Options", "nosniff"))
        .with_header(header("Referrer-Policy", "no-referrer"))
        .with_header(header("Cache-Control", "no-store"))
}

const HTML: &str = "text/html; charset=utf-8";
const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";

fn get_header<'r>(request: &'r Request, name: &str) -> Option<&'r str> {
    request
        .headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

/// Answer one request.
pub(crate) fn handle(shared: &Arc<Shared>, request: Request) {
    shared.wait_caught_up();
    if shared.dirty.load(std::sync::atomic::Ordering::SeqCst) {
        super::poll::catch_up(shared);
    }
    let url = request.url().to_owned();
    let log = std::env::var_os("COOL_RUNNER_WEB_LOG").is_some();
    if log {
        eprintln!("web: {} {url}", request.method());
    }
    let (path, query_string) = url.split_once('?').unwrap_or((&url, ""));
    let token = query::pairs(query_string)
        .into_iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v);
    let bearer = get_header(&request, "Authorization").and_then(|a| a.strip_prefix("Bearer "));
    let checked = shared.security.check(
        get_header(&request, "Host"),
        token.as_deref(),
        get_header(&request, "Cookie"),
        bearer,
    );
    let set_cookie = match checked {
        Ok(set) => set,
        Err(Refusal::Host(host)) => {
            let body = format!(
                "403 Forbidden: the Host header `{host}` is not the address this server serves \
                 (a DNS-rebinding guard); open the URL it printed\n"
            );
            send(request, reply(403, TEXT, body));
            return;
        }
        Err(Refusal::Token) => {
            let body = "401 Unauthorized: this server listens on a non-loopback address and needs \
                        the token it printed at start-up (`?token=...`)\n";
            send(request, reply(401, TEXT, body));
            return;
        }
    };
    if !matches!(request.method(), Method::Get | Method::Head) {
        let response = reply(
            405,
            TEXT,
            "405 Method Not Allowed: this server only reads\n",
        )
        .with_header(header("Allow", "GET, HEAD"));
        send(request, response);
        return;
    }
    if path == "/api/events" {
        let last = get_header(&request, "Last-Event-ID").and_then(|v| v.parse::<u64>().ok());
        let seq = html::seq(shared);
        let hello = super::events::format_event(
            if last.is_some_and(|l| l < seq) {
                "runs"
            } else {
                "hello"
            },
            seq,
            &super::poll::summary_json(shared),
        );
        shared.events.open(request.into_writer(), &hello);
        return;
    }
    let mut response = route(shared, path, query_string);
    if set_cookie {
        response.add_header(header("Set-Cookie", &shared.security.cookie()));
    }
    send(request, response);
    if log {
        eprintln!("web: done {url}");
    }
}

/// Write the answer and close the connection (`Connection: close`, which
/// `tiny_http` does not let a response set). Kept-alive connections each
/// hold one of `tiny_http`'s connection threads, and its thread pool can
/// leave a new connection waiting behind them when several arrive at once
/// (a page refreshing four parts): the page then waited forever for one
/// part. A closed connection frees its thread at once; on 127.0.0.1 a new
/// connection costs about 0.1 ms.
fn send(request: Request, response: Reply) {
    use std::fmt::Write as _;
    use std::io::{Read as _, Write as _};
    let head_only = *request.method() == Method::Head;
    let status = response.status_code();
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        status.0,
        status.default_reason_phrase()
    );
    for h in response.headers() {
        let _ = write!(head, "{}: {}\r\n", h.field, h.value);
    }
    let mut body = Vec::new();
    let _ = response.into_reader().read_to_end(&mut body);
    let _ = write!(
        head,
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut writer = request.into_writer();
    let _ = writer
        .write_all(head.as_bytes())
        .and_then(|()| {
            if head_only {
                Ok(())
            } else {
                writer.write_all(&body)
            }
        })
        .and_then(|()| writer.flush());
}

fn route(shared: &Shared, path: &str, query_string: &str) -> Reply {
    let runs = shared
        .runs
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // The change the answer includes at least (read under the lock: the
    // event of a change is numbered after the change is in): the script
    // fetches again when it heard of a newer one.
    let seq = html::seq(shared).to_string();
    route_runs(shared, &runs, path, query_string).with_header(header("X-Cool-Runner-Seq", &seq))
}

fn route_runs(shared: &Shared, runs: &super::data::Runs, path: &str, query_string: &str) -> Reply {
    let params = Params::parse(query_string);
    match path {
        "/" => {
            let answer = answer(shared, runs, &params, true);
            let status = if answer.is_ok() { 200 } else { 400 };
            reply(status, HTML, html::page(shared, runs, &params, &answer))
        }
        "/fragment/results" => {
            let answer = answer(shared, runs, &params, true);
            let status = if answer.is_ok() { 200 } else { 400 };
            reply(status, HTML, html::results(runs, &params, &answer))
        }
        "/fragment/summary" => reply(200, HTML, html::summary(shared, runs)),
        "/fragment/running" => reply(200, HTML, html::running(shared, runs)),
        "/fragment/queue" => reply(200, HTML, html::queue(shared, runs)),
        "/api/runs" => match answer(shared, runs, &params, false) {
            Ok(answer) => reply(200, JSON, api::runs(runs, &params, &answer)),
            Err(BadQuery(message)) => reply(400, JSON, api::error(&message)),
        },
        "/api/summary" => reply(200, JSON, api::summary(shared, runs)),
        "/api/running" => reply(200, JSON, api::running(shared, runs)),
        "/api/queue" => reply(200, JSON, api::queue(shared)),
        "/static/app.js" => reply(200, "text/javascript; charset=utf-8", assets::APP_JS),
        "/static/style.css" => reply(200, "text/css; charset=utf-8", assets::STYLE_CSS),
        "/static/icon.svg" => reply(200, "image/svg+xml", assets::ICON_SVG),
        _ => {
            let one = |prefix: &str| {
                path.strip_prefix(prefix)
                    .and_then(|id| id.parse::<i64>().ok())
            };
            if let Some(id) = one("/run/") {
                with_run(shared, runs, id, |run, identity| {
                    reply(200, HTML, html::run_page(shared, runs, run, identity))
                })
            } else if let Some(id) = one("/fragment/run/") {
                with_run(shared, runs, id, |run, identity| {
                    reply(200, HTML, html::run_body(shared, run, identity))
                })
            } else if let Some(id) = one("/api/runs/") {
                match runs.get(id) {
                    Some(run) => reply(200, JSON, api::run(shared, run, identity(shared, id))),
                    None => reply(404, JSON, api::error(&format!("no run {id} in the store"))),
                }
            } else {
                reply(404, TEXT, format!("404 Not Found: {path}\n"))
            }
        }
    }
}

fn with_run(
    shared: &Shared,
    runs: &super::data::Runs,
    id: i64,
    f: impl FnOnce(&Run, Option<(String, String)>) -> Reply,
) -> Reply {
    match runs.get(id) {
        Some(run) => f(run, identity(shared, id)),
        None => reply(404, HTML, format!("<!doctype html><title>no run</title><p>No run {id} in the store. <a href=/>All runs</a></p>")),
    }
}

/// A run's identity and the parts it is computed from (pretty JSON).
fn identity(shared: &Shared, id: i64) -> Option<(String, String)> {
    let reader = shared
        .reader
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let row = reader
        .as_ref()?
        .rows_with_ids(&[id])
        .ok()?
        .into_iter()
        .next()?;
    let parts = serde_json::from_str::<serde_json::Value>(&row.parts)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or(row.parts);
    Some((row.identity, parts))
}

/// The answer to `params`, from the last answers when the runs did not
/// change since.
pub(crate) fn answer(
    shared: &Shared,
    runs: &super::data::Runs,
    params: &Params,
    with_plot: bool,
) -> Result<Arc<Answer>, BadQuery> {
    let seq = runs.generation();
    let key = (params.selection_key(), with_plot);
    let mut cache = shared
        .answers
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, _, answer)) = cache.iter().find(|(s, p, _)| *s == seq && *p == key) {
        return Ok(Arc::clone(answer));
    }
    // Answers of older runs go first: the selection they share is then
    // changed in place, not copied.
    cache.retain(|(s, _, _)| *s == seq);
    drop(cache);
    let answer = {
        let mut selections = shared
            .selections
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::new(query::answer(
            &shared.sandbox,
            runs,
            params,
            with_plot,
            &mut selections,
        )?)
    };
    cache = shared
        .answers
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    cache.retain(|(s, _, _)| *s == seq);
    if cache.len() >= 8 {
        cache.remove(0);
    }
    cache.push((seq, key, Arc::clone(&answer)));
    Ok(answer)
}

/// Where a run's directory is: as recorded (relative to the directory the
/// runner worked in), tried from here and from the store's project
/// directory (the parent of `.cool-runner/`).
pub(crate) fn run_dir(shared: &Shared, run: &Run) -> Option<PathBuf> {
    let dir = PathBuf::from(run.dir.as_deref()?);
    if dir.is_absolute() || dir.exists() {
        return Some(dir);
    }
    let project = shared.config.store.parent()?.parent()?;
    let there = project.join(&dir);
    there.exists().then_some(there)
}
