//! The page in a real browser: headless Chromium driven by chromedriver
//! over `WebDriver` (plain HTTP requests, no async runtime). It checks what
//! a person sees: the table lists the runs, a filter narrows it, a group-by
//! shows mean ± std, a run that finishes while the page is open appears
//! without a reload, the plot renders, and no request leaves the server.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs
//! them). Without them the tests say so and pass, unless
//! `COOL_RUNNER_REQUIRE_BROWSER=1` (set by `.ci/run`), where they fail.

use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value as Json};

use super::web::{gated, gated_command, request, store_with_runs, Served};

/// chromedriver and a browser session.
struct Browser {
    driver: Child,
    addr: String,
    session: String,
}

fn find(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

impl Browser {
    /// Start chromedriver and a headless Chromium; `None` (with a message)
    /// when they are not installed and not required.
    fn start() -> Option<Self> {
        let chromium = find(&["chromium", "chromium-browser", "google-chrome"]);
        let driver = find(&["chromedriver"]);
        let (Some(chromium), Some(driver)) = (chromium, driver) else {
            let message = "chromium and chromedriver are not installed \
                           (apt-get install chromium chromium-driver)";
            assert!(
                std::env::var("COOL_RUNNER_REQUIRE_BROWSER").as_deref() != Ok("1"),
                "{message}, and COOL_RUNNER_REQUIRE_BROWSER=1"
            );
            eprintln!("SKIPPED: {message}");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let addr = format!("127.0.0.1:{port}");
        let mut browser = Self {
            driver: child,
            addr,
            session: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&browser.addr).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1000", "--no-first-run", "--disable-extensions",
                     "--disable-background-networking", "--disable-component-update"]
        }}}});
        let answer = browser.call("POST", "/session", Some(&caps));
        answer["sessionId"]
            .as_str()
            .expect("a session id")
            .clone_into(&mut browser.session);
        Some(browser)
    }

    fn call(&self, method: &str, path: &str, body: Option<&Json>) -> Json {
        let body = body.map(Json::to_string);
        let answer = request(&self.addr, method, path, &self.addr, &[], body.as_deref());
        let json: Json = serde_json::from_str(&answer.body).unwrap_or(Json::Null);
        assert_eq!(
            answer.status, 200,
            "WebDriver {method} {path}: {}",
            answer.body
        );
        json["value"].clone()
    }

    fn go(&self, url: &str) {
        let path = format!("/session/{}/url", self.session);
        self.call("POST", &path, Some(&json!({ "url": url })));
    }

    /// Run `script` (a function body) in the page; its return value.
    fn eval(&self, script: &str) -> Json {
        let path = format!("/session/{}/execute/sync", self.session);
        self.call(
            "POST",
            &path,
            Some(&json!({ "script": script, "args": [] })),
        )
    }

    /// Evaluate `script` until it returns `true`.
    fn wait(&self, what: &str, script: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.eval(script) == json!(true) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the page:\n{}\nits requests:\n{}",
                self.eval("return document.body.innerText"),
                self.eval("return performance.getEntriesByType('resource').map(e => [e.name, Math.round(e.startTime), Math.round(e.responseEnd)].join(' ')).join('\\n')")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn text(&self, selector: &str) -> String {
        let script = format!(
            "return (document.querySelector({}) || {{}}).innerText || ''",
            json!(selector)
        );
        self.eval(&script).as_str().unwrap_or_default().to_owned()
    }

    fn screenshot(&self, to: &Path) {
        let path = format!("/session/{}/screenshot", self.session);
        let data = self.call("GET", &path, None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(to, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            let _ = request(&self.addr, "DELETE", &path, &self.addr, &[], None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Fill the filter form's field `name` and submit the form.
fn submit(browser: &Browser, fields: &[(&str, &str)]) {
    let mut script = String::from("const f = document.getElementById('query');");
    for (name, value) in fields {
        let _ = write!(
            script,
            "f.elements[{}].value = {};",
            json!(name),
            json!(value)
        );
    }
    script.push_str("f.requestSubmit(); return true;");
    browser.eval(&script);
}

const ROWS: &str = "return document.querySelectorAll('#runs tbody tr').length";

#[test]
fn the_page_in_chromium_filters_groups_plots_and_updates_live() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let test = store_with_runs();
    let gate = test.path().join("gate");
    let test = test.write("late.yaml", &gated("late"));
    let dir = test.path().to_owned();
    let test = test.env("COOL_RUNNER_WEB_LOG", "1");
    let served = Served::start(test, &["serve", "--port", "0"]);
    browser.go(&served.url);
    browser.wait(
        "the live stream",
        "return document.getElementById('live').textContent === 'live'",
    );
    // The server reads the store after it starts listening: the table
    // fills (live) if the page came first.
    browser.wait("the table to list the runs", &format!("{ROWS} === 6"));
    filter_and_group(&browser);
    a_run_finishes_while_the_page_is_open(&browser, &served, &dir, &gate);
    requests_stay_local_and_a_click_opens_a_run(&browser, &served);
}

fn filter_and_group(browser: &Browser) {
    assert!(browser.text("#runs thead").contains("parameters"));
    assert!(browser.text("#plot figcaption").contains("ACC against lr"));
    assert_eq!(
        browser.eval("return document.querySelectorAll('#plot svg circle').length"),
        2,
        "the plot renders"
    );
    // The page is not reloaded below: this mark would be gone.
    browser.eval("window.notReloaded = true; return true");

    submit(browser, &[("filter", "exp.lr > 0.05 && exp.seed != 1")]);
    browser.wait("the filter", &format!("{ROWS} === 2"));
    assert!(
        browser.text("#count").starts_with("2 of 6 finished runs"),
        "{}",
        browser.text("#count")
    );
    assert!(
        browser
            .eval("return location.search")
            .as_str()
            .unwrap()
            .contains("filter="),
        "the address keeps the query"
    );

    submit(
        browser,
        &[("filter", ""), ("group_by", "lr"), ("agg", "ACC")],
    );
    browser.wait(
        "the groups",
        "return document.querySelectorAll('table.groups tbody tr').length === 2",
    );
    let groups = browser.text("table.groups");
    assert!(
        groups.contains("0.110") && groups.contains("1.010 ± 0.010"),
        "{groups}"
    );
    parallel_coordinates(browser);
}

/// The other plot: parallel coordinates of the chosen parameters.
fn parallel_coordinates(browser: &Browser) {
    submit(
        browser,
        &[
            ("group_by", ""),
            ("agg", ""),
            ("plot", "parallel"),
            ("axes", "lr seed"),
            ("y", "ACC"),
        ],
    );
    browser.wait(
        "the parallel coordinates",
        "return document.querySelectorAll('#plot svg.parallel polyline.line').length === 6",
    );
    assert_eq!(
        browser.eval(
            "return [...document.querySelectorAll('#plot svg.parallel text.axis-name')].map(t => t.textContent)"
        ),
        json!(["lr", "seed", "ACC"]),
        "axes named by the chosen parameters, the metric last"
    );
    assert!(
        browser
            .eval("const r = document.querySelector('#plot svg.parallel').getBoundingClientRect(); return r.width > 300 && r.height > 100")
            .as_bool()
            .unwrap(),
        "drawn at a size a person can read"
    );
    assert!(browser
        .text("#plot figcaption")
        .contains("parallel coordinates: lr, seed against ACC"));
    // Next to the README's screenshot when that is refreshed.
    if let Ok(shot) = std::env::var("COOL_RUNNER_SCREENSHOT") {
        let shot = crate::test::repo().join(shot);
        browser.screenshot(&shot.with_file_name("web-parallel.png"));
    }
    submit(browser, &[("plot", ""), ("axes", ""), ("y", "")]);
    browser.wait(
        "the plot against one parameter again",
        "return document.querySelectorAll('#plot svg circle').length === 2",
    );
}

/// A run of another process that finishes while the page is open.
fn a_run_finishes_while_the_page_is_open(
    browser: &Browser,
    served: &Served,
    dir: &Path,
    gate: &Path,
) {
    submit(browser, &[("group_by", ""), ("agg", "")]);
    browser.wait("all runs again", &format!("{ROWS} === 6"));
    let mut late = gated_command(dir, gate, &["run", "--exp", "late.yaml"])
        .spawn()
        .unwrap();
    browser.wait(
        "the running experiment",
        "return document.getElementById('running').innerText.includes('Running (1)')",
    );
    browser.wait(
        "its output",
        "return document.getElementById('running').innerText.includes('late: epoch 1 of 2, waiting')",
    );
    // The screenshot the README shows (`docs/web.png`, refreshed with
    // COOL_RUNNER_SCREENSHOT=docs/web.png).
    let shot = std::env::var("COOL_RUNNER_SCREENSHOT")
        .map_or_else(|_| dir.join("web.png"), |p| crate::test::repo().join(p));
    browser.screenshot(&shot);
    std::fs::write(gate, "").unwrap();
    let finished = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        browser.wait(
            "the finished run, without reload",
            &format!("{ROWS} === 7 && window.notReloaded === true"),
        );
    }));
    if let Err(e) = finished {
        eprintln!("the server's requests:\n{}", served.bg.stderr());
        std::panic::resume_unwind(e);
    }
    assert!(late.wait().unwrap().success());
    assert!(
        browser.text("#runs tbody tr").contains("late"),
        "newest first"
    );
    browser.wait(
        "nothing running",
        "return document.getElementById('running').innerText.includes('Running (0)')",
    );
}

fn requests_stay_local_and_a_click_opens_a_run(browser: &Browser, served: &Served) {
    // Every request the page made went to the server.
    let origin = served.url.trim_end_matches('/');
    let urls = browser.eval(
        "return performance.getEntriesByType('resource').map(e => e.name).concat([location.href])",
    );
    let urls: Vec<&str> = urls
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Json::as_str)
        .collect();
    assert!(urls.len() >= 4, "{urls:?}");
    for url in &urls {
        assert!(url.starts_with(origin), "a request left the server: {url}");
    }

    submit(browser, &[("x", "lr"), ("y", "ACC")]);
    browser.wait(
        "the plot of three values",
        "return document.querySelectorAll('#plot svg circle').length === 3",
    );

    // A click on a row opens the run.
    browser.eval("document.querySelector('#runs tbody tr td:nth-child(2)').click(); return true");
    browser.wait("the run's page", "return location.pathname === '/run/7'");
    browser.wait(
        "its output",
        "return document.body.innerText.includes('trained late')",
    );
    assert!(
        browser.text("#document").contains("ACC: 3.0"),
        "{}",
        browser.text("#document")
    );
}
