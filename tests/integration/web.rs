//! `cool-runner serve` and `run --serve` over plain HTTP: the JSON API,
//! the server-rendered page (what a browser without JavaScript sees), the
//! `Host` check, the token, and the event stream. The same page in a real
//! browser: `browser.rs`.

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use crate::test::{bin, read, Bg, Test};

/// An HTTP answer.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> Json {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One HTTP/1.1 request over a plain TCP connection (`Connection: close`),
/// with the `Host` header given (the server checks it).
pub(crate) fn request(
    addr: &str,
    method: &str,
    path: &str,
    host: &str,
    extra: &[(&str, &str)],
    body: Option<&str>,
) -> Answer {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in extra {
        let _ = write!(head, "{k}: {v}\r\n");
    }
    if let Some(body) = body {
        let _ = write!(
            head,
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
    }
    head.push_str("\r\n");
    head.push_str(body.unwrap_or(""));
    stream.write_all(head.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line `{line}`"));
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let mut bytes = Vec::new();
    if chunked {
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            let size = usize::from_str_radix(line.trim(), 16).unwrap_or(0);
            if size == 0 {
                break;
            }
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).unwrap();
            bytes.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        // chromedriver keeps the connection open despite `Connection: close`.
        bytes.resize(length, 0);
        reader.read_exact(&mut bytes).unwrap();
    } else {
        reader.read_to_end(&mut bytes).unwrap();
    }
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// A running `serve` (or `run --serve`) and its address.
pub(crate) struct Served {
    pub(crate) bg: Bg,
    /// `127.0.0.1:PORT`
    pub(crate) addr: String,
    pub(crate) url: String,
}

impl Served {
    /// Start the binary with `args` in `test`'s directory and wait for the
    /// URL it prints.
    pub(crate) fn start(test: Test, args: &[&str]) -> Self {
        let bg = test.args(args).spawn();
        let mut url = String::new();
        bg.wait_for(30, "the URL on stderr", |bg| {
            url = bg
                .stderr()
                .lines()
                .find_map(|l| l.strip_prefix("serving ").map(str::to_owned))
                .unwrap_or_default();
            !url.is_empty()
        });
        let addr = url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        Self { bg, addr, url }
    }

    pub(crate) fn get(&self, path: &str) -> Answer {
        request(&self.addr, "GET", path, &self.addr, &[], None)
    }

    pub(crate) fn json(&self, path: &str) -> Json {
        let answer = self.get(path);
        assert_eq!(answer.status, 200, "GET {path}: {}", answer.body);
        answer.json()
    }

    /// Poll `path` until `check` holds on its JSON.
    pub(crate) fn wait_json(&self, path: &str, what: &str, check: impl Fn(&Json) -> bool) -> Json {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let json = self.json(path);
            if check(&json) {
                return json;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {json}\nstderr:\n{}",
                self.bg.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A module that writes `ACC = 10 lr + seed / 100` and one line of output.
pub(crate) const MODULE: &str = r#"import json, os, time
e = json.load(open(os.environ["COOL_RUNNER_EXPERIMENT"]))
gate = os.environ.get("WEB_TEST_GATE")
if gate:
    print(f"{e['Name']}: epoch 1 of 2, waiting", flush=True)
while gate and not os.path.exists(gate):
    time.sleep(0.02)
print(f"trained {e['Name']} lr={e['lr']} seed={e['seed']}", flush=True)
acc = round(e["lr"] * 10 + e["seed"] / 100, 4)
with open(os.environ["COOL_RUNNER_RESULTS"], "w") as f:
    json.dump({"ACC": acc, "LOSS": round(1 - acc / 2, 4)}, f)
"#;

/// Six experiments: lr 0.01 and 0.1, three seeds each.
pub(crate) fn sweep() -> String {
    let mut text = String::from("Global: {repeat: 1}\nModule: python3 mod.py\nlr: 0.01\nseed: 0\n");
    for lr in ["0.01", "0.1"] {
        for seed in 0..3 {
            let _ = write!(text, "---\nName: lr{lr}-s{seed}\nlr: {lr}\nseed: {seed}\n");
        }
    }
    text
}

/// A test directory whose store holds the six runs of [`sweep`].
pub(crate) fn store_with_runs() -> Test {
    let test = Test::new()
        .write("mod.py", MODULE)
        .write("exp.yaml", &sweep());
    run_in(test.path(), &["run", "--exp", "exp.yaml"]);
    test
}

/// Run the binary to the end in `dir`; it must succeed.
pub(crate) fn run_in(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new(bin())
        .current_dir(dir)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One experiment; run it with [`gated_command`] to have it wait for a
/// file to exist before it ends.
pub(crate) fn gated(name: &str) -> String {
    format!("Global: {{repeat: 1}}\nModule: python3 mod.py\n---\nName: {name}\nlr: 0.3\nseed: 0\n")
}

/// `cool-runner ARGS` in `dir`, its modules waiting for `gate` to exist.
pub(crate) fn gated_command(dir: &Path, gate: &Path, args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(bin());
    command
        .current_dir(dir)
        .args(args)
        .env("WEB_TEST_GATE", gate)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    command
}

pub(crate) fn store_path(test: &Test) -> PathBuf {
    test.path().join(".cool-runner/store.sqlite")
}

#[test]
fn the_api_pages_filters_sorts_and_groups_the_runs() {
    let test = store_with_runs();
    let served = Served::start(test, &["serve", "--port", "0"]);
    let summary = served.json("/api/summary");
    assert_eq!(summary["total"], 6, "{summary}");
    assert_eq!(summary["counts"]["done"], 6, "{summary}");

    let page = served.json("/api/runs?per=4");
    assert_eq!(
        (page["matched"].as_u64(), page["pages"].as_u64()),
        (Some(6), Some(2)),
        "{page}"
    );
    let runs = page["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 4);
    assert_eq!(runs[0]["name"], "lr0.1-s2", "newest first by default");
    assert_eq!(
        served.json("/api/runs?per=4&page=2")["runs"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let filtered = served.json("/api/runs?filter=exp.lr+%3E+0.05&filter=exp.seed+!%3D+1");
    let names: Vec<&str> = filtered["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["lr0.1-s2", "lr0.1-s0"]);

    let python = served.json("/api/runs?filter=lambda+e%3A+e%5B%27ACC%27%5D+%3C+0.115&sort=exp.ACC&reverse=0&columns=ACC");
    let accs: Vec<f64> = python["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["doc"]["ACC"].as_f64().unwrap())
        .collect();
    assert_eq!(accs, [0.1, 0.11]);
    assert_eq!(
        python["runs"][0]["doc"].as_object().unwrap().len(),
        1,
        "only the columns asked"
    );

    groups_errors_and_one_run(&served);
}

fn groups_errors_and_one_run(served: &Served) {
    let groups = served.json("/api/runs?group_by=lr&agg=ACC");
    let groups = groups["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(
        (groups[0]["lr"].as_f64(), groups[0]["n"].as_u64()),
        (Some(0.01), Some(3))
    );
    assert!((groups[0]["ACC_mean"].as_f64().unwrap() - 0.11).abs() < 1e-9);
    assert!((groups[1]["ACC_std"].as_f64().unwrap() - 0.01).abs() < 1e-9);

    let bad = served.get("/api/runs?filter=exp.lr+%3E");
    assert_eq!(bad.status, 400);
    assert!(
        bad.json()["error"]
            .as_str()
            .unwrap()
            .contains("invalid `filter` expression `exp.lr >`"),
        "{}",
        bad.body
    );
    let failing = served.json("/api/runs?filter=exp.MISSING+%3E+1");
    assert_eq!(failing["matched"], 0);
    assert!(
        failing["warnings"][0]
            .as_str()
            .unwrap()
            .contains("failed on 6 run(s)"),
        "{failing}"
    );

    let one = served.json("/api/runs/1");
    assert_eq!(one["name"], "lr0.01-s0");
    assert_eq!(one["doc"]["STATUS"], "done");
    assert!(
        one["identity"].as_str().is_some_and(|i| !i.is_empty()),
        "{one}"
    );
    assert!(
        one["stdout_tail"][0]
            .as_str()
            .unwrap()
            .contains("trained lr0.01-s0"),
        "{one}"
    );
    assert_eq!(served.get("/api/runs/99").status, 404);
    assert_eq!(served.json("/api/running"), serde_json::json!([]));
    assert_eq!(served.json("/api/queue")["known"], false);
}

#[test]
fn the_host_check_refuses_other_names_and_nothing_is_written() {
    let test = store_with_runs();
    let served = Served::start(test, &["serve", "--port", "0"]);
    let port = served.addr.rsplit(':').next().unwrap().to_owned();
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ] {
        assert_eq!(
            request(&served.addr, "GET", "/api/summary", &host, &[], None).status,
            200,
            "{host}"
        );
    }
    for host in [
        format!("evil.example:{port}"),
        "evil.example".to_owned(),
        format!("127.0.0.1:{}", port.parse::<u16>().unwrap() ^ 1),
    ] {
        let answer = request(&served.addr, "GET", "/", &host, &[], None);
        assert_eq!(answer.status, 403, "{host}");
        assert!(answer.body.contains("DNS-rebinding"), "{}", answer.body);
    }
    let posted = request(
        &served.addr,
        "POST",
        "/api/runs",
        &served.addr,
        &[],
        Some("{}"),
    );
    assert_eq!(posted.status, 405);
    assert_eq!(posted.header("Allow"), Some("GET, HEAD"));
}

/// The plot as parallel coordinates of the chosen parameters.
fn parallel_coordinates(served: &Served) {
    // One line per (lr, seed), the axes named by them.
    let parallel = served.get("/fragment/results?plot=parallel&axes=lr,seed&y=ACC");
    assert_eq!(parallel.status, 200);
    assert_eq!(
        parallel.body.matches("<polyline class=line").count(),
        6,
        "{}",
        parallel.body
    );
    for axis in ["lr", "seed", "ACC"] {
        assert!(
            parallel
                .body
                .contains(&format!("font-weight=\"bold\">{axis}</text>")),
            "{axis}: {}",
            parallel.body
        );
    }
    assert!(
        parallel
            .body
            .contains("highest mean: lr = 0.1, seed = 2 (1.02 ± 0, n=1)"),
        "{}",
        parallel.body
    );
    // Over seeds: one line per lr, the mean of three runs.
    let over_seeds = served.get("/fragment/results?plot=parallel&axes=lr&y=ACC");
    assert_eq!(over_seeds.body.matches("<polyline class=line").count(), 2);
    assert!(
        over_seeds
            .body
            .contains("lr = 0.1: ACC = 1.01 ± 0.01 (n=3)"),
        "{}",
        over_seeds.body
    );
}

#[test]
fn the_page_is_rendered_on_the_server_and_needs_nothing_from_elsewhere() {
    let test = store_with_runs();
    let served = Served::start(test, &["serve", "--port", "0"]);
    let page = served.get("/");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("Content-Security-Policy"),
        Some("default-src 'self'")
    );
    // What a browser without JavaScript shows: every run in the table.
    assert_eq!(
        page.body.matches("<tr data-href=/run/").count(),
        6,
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("<th colspan=2 class=param>parameters</th>"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("<th colspan=2 class=result>results</th>"),
        "{}",
        page.body
    );
    // No script, style or image from another host, and none inline.
    for needle in ["http://", "https://", "<script>", "style="] {
        let outside = page.body.replace("http://www.w3.org/2000/svg", "");
        assert!(!outside.contains(needle), "`{needle}` in the page");
    }
    for asset in ["/static/app.js", "/static/style.css", "/static/icon.svg"] {
        let answer = served.get(asset);
        assert_eq!(answer.status, 200, "{asset}");
        assert!(
            !answer.body.contains("http://") || asset == "/static/icon.svg",
            "{asset}"
        );
    }
    let grouped = served.get("/?group_by=lr&agg=ACC");
    // As `filter --group-by lr --agg ACC` writes it (the same engine).
    for cell in [
        "<td class=num>0.01</td><td class=num>3</td><td class=num>0.110",
        "<td class=num>0.1</td><td class=num>3</td><td class=num>1.010 ± 0.010",
    ] {
        assert!(grouped.body.contains(cell), "{cell}: {}", grouped.body);
    }
    let plot = served.get("/fragment/results?x=lr&y=ACC");
    assert_eq!(plot.body.matches("<circle").count(), 2, "{}", plot.body);
    assert!(
        plot.body.contains("highest mean: lr = 0.1"),
        "{}",
        plot.body
    );
    parallel_coordinates(&served);
    let run = served.get("/run/2");
    assert!(
        run.body.contains("lr0.01-s1") && run.body.contains("trained lr0.01-s1"),
        "{}",
        run.body
    );
    assert!(
        run.body.contains("explain: what its identity is made of"),
        "{}",
        run.body
    );
    let bad = served.get("/?filter=exp.lr+%3E");
    assert_eq!(bad.status, 400);
    assert!(
        bad.body.contains("invalid `filter` expression"),
        "{}",
        bad.body
    );
}

#[test]
fn a_missing_store_gives_an_empty_page_that_fills() {
    let test = Test::new()
        .write("mod.py", MODULE)
        .write("exp.yaml", &sweep());
    let dir = test.path().to_owned();
    let served = Served::start(
        test,
        &[
            "serve",
            "--port",
            "0",
            "--store",
            ".cool-runner/store.sqlite",
        ],
    );
    let summary = served.json("/api/summary");
    assert_eq!(
        (summary["total"].as_u64(), summary["store_exists"].as_bool()),
        (Some(0), Some(false))
    );
    assert!(served.get("/").body.contains("no store yet"));
    run_in(&dir, &["run", "--exp", "exp.yaml"]);
    served.wait_json("/api/summary", "six runs", |s| {
        s["total"] == 6 && s["counts"]["done"] == 6
    });
}

#[test]
fn other_addresses_need_the_token() {
    let test = store_with_runs();
    let served = Served::start(test, &["serve", "--port", "0", "--host", "0.0.0.0"]);
    let token = served
        .url
        .split("?token=")
        .nth(1)
        .expect("a token in the URL")
        .to_owned();
    assert_eq!(token.len(), 32);
    let port = served.addr.rsplit(':').next().unwrap();
    let local = format!("127.0.0.1:{port}");
    let host = format!("workstation.lan:{port}");
    assert_eq!(
        request(&local, "GET", "/api/summary", &host, &[], None).status,
        401
    );
    let with_token = request(&local, "GET", &format!("/?token={token}"), &host, &[], None);
    assert_eq!(with_token.status, 200);
    let cookie = with_token
        .header("Set-Cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(cookie.ends_with(&token));
    assert_eq!(
        request(
            &local,
            "GET",
            "/api/summary",
            &host,
            &[("Cookie", &cookie)],
            None
        )
        .status,
        200
    );
    let bearer = format!("Bearer {token}");
    assert_eq!(
        request(
            &local,
            "GET",
            "/api/summary",
            &host,
            &[("Authorization", &bearer)],
            None
        )
        .status,
        200
    );
    assert_eq!(
        request(
            &local,
            "GET",
            "/api/summary",
            &host,
            &[("Authorization", "Bearer nope")],
            None
        )
        .status,
        401
    );
}

/// Read server-sent events until one named `name` arrives.
fn next_event(reader: &mut BufReader<TcpStream>, name: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .expect("an event before the timeout");
        assert!(n > 0, "the event stream ended");
        if line.trim_end() == format!("event: {name}") {
            return line;
        }
    }
}

#[test]
fn events_tell_an_open_page_that_a_run_finished() {
    let test = store_with_runs();
    let gate = test.path().join("gate");
    let test = test.write("late.yaml", &gated("late"));
    let dir = test.path().to_owned();
    let served = Served::start(test, &["serve", "--port", "0"]);
    let mut stream = TcpStream::connect(&served.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET /api/events HTTP/1.1\r\nHost: {}\r\n\r\n",
        served.addr
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    next_event(&mut reader, "hello");
    let mut late = gated_command(&dir, &gate, &["run", "--exp", "late.yaml"])
        .spawn()
        .unwrap();
    next_event(&mut reader, "runs");
    let running = served.wait_json("/api/running", "the late run", |r| {
        r.as_array().is_some_and(|a| a.len() == 1)
    });
    assert_eq!(running[0]["name"], "late");
    std::fs::write(&gate, "").unwrap();
    assert!(late.wait().unwrap().success());
    served.wait_json("/api/summary", "seven done", |s| {
        s["counts"]["done"] == 7 && s["running"] == 0
    });
    let page = served.json("/api/runs?per=1");
    assert_eq!(page["runs"][0]["name"], "late");
}

#[test]
fn run_serve_shows_the_running_experiment_and_the_queue() {
    let test = Test::new().write("mod.py", MODULE);
    let gate = test.path().join("gate");
    // `second` waits for `first` (pipelines): the queue says so.
    let experiments = format!(
        "Global:\n  queue: q.yaml\n{}---\nName: second\nlr: 0.2\nseed: 1\nAfter: [first]\n",
        gated("first").replace("Global: {repeat: 1}\n", "")
    );
    let test = test
        .write("exp.yaml", &experiments)
        .env("WEB_TEST_GATE", gate.to_str().unwrap());
    let mut served = Served::start(test, &["run", "--exp", "exp.yaml", "--serve", "0"]);
    let running = served.wait_json("/api/running", "the first run", |r| {
        r.as_array().is_some_and(|a| a.len() == 1)
    });
    assert_eq!(running[0]["name"], "first");
    let queue = served.json("/api/queue");
    assert_eq!(
        (queue["known"].as_bool(), queue["pending"].as_u64()),
        (Some(true), Some(1)),
        "{queue}"
    );
    assert_eq!(queue["next"][0], "second");
    assert_eq!(queue["waiting"].as_u64(), Some(1), "{queue}");
    assert_eq!(queue["waits"][0][1][0], "first", "{queue}");
    let page = served.get("/");
    assert!(
        page.body.contains("1 pending in <code>q.yaml</code>")
            && page
                .body
                .contains("second <span class=waits>waits for first</span>"),
        "{}",
        page.body
    );
    std::fs::write(&gate, "").unwrap();
    assert_eq!(served.bg.wait(60), 0, "{}", served.bg.stderr());
    assert!(read(&served.bg.path().join("runner.err")).contains("finished: 2 done"));
}

/// The names of `pid`'s threads.
fn thread_names(pid: i32) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .collect();
    names.sort();
    names
}

/// `run --serve` with nobody looking keeps the HTTP server asleep (every
/// experiment's `fork` copies the runner's threads' memory mappings): only
/// the poller's thread runs; the server's start with the first connection,
/// which is answered.
#[test]
fn run_serve_starts_the_server_threads_with_the_first_page() {
    let test = Test::new().write("mod.py", MODULE);
    let gate = test.path().join("gate");
    let test = test
        .write("exp.yaml", &gated("first"))
        .env("WEB_TEST_GATE", gate.to_str().unwrap());
    let mut served = Served::start(test, &["run", "--exp", "exp.yaml", "--serve", "0"]);
    served.bg.wait_for(30, "the module running", |bg| {
        read(&bg.path().join("runner.out")).contains("epoch 1 of 2")
    });
    let pid = served.bg.pid();
    let before = thread_names(pid);
    assert!(before.iter().any(|t| t == "web-poll"), "{before:?}");
    assert!(
        !before
            .iter()
            .any(|t| t.starts_with("web-") && t != "web-poll"),
        "{before:?}"
    );
    let summary = served.json("/api/summary");
    assert_eq!(summary["running"], 1, "{summary}");
    // The worker that answered is up; the others may still be starting.
    let workers = || {
        let names = thread_names(pid);
        let count = names
            .iter()
            .filter(|t| t.starts_with("web-") && *t != "web-poll")
            .count();
        (count, names)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while workers().0 < 4 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (count, after) = workers();
    assert_eq!(count, 4, "{after:?}");
    std::fs::write(&gate, "").unwrap();
    assert_eq!(served.bg.wait(60), 0, "{}", served.bg.stderr());
}

#[test]
fn run_serve_refuses_no_store_and_a_busy_port() {
    let test = Test::new()
        .write("mod.py", MODULE)
        .write("exp.yaml", &sweep());
    let ran = test
        .args(&["run", "--exp", "exp.yaml", "--serve", "0", "--no-store"])
        .run()
        .status(2);
    assert!(
        ran.stderr().contains("`--serve` shows the results store"),
        "{}",
        ran.stderr()
    );
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let ran = Test::new()
        .args(&["serve", "--port", &port])
        .run()
        .status(2);
    assert!(
        ran.stderr().contains("cannot listen on 127.0.0.1:"),
        "{}",
        ran.stderr()
    );
}
