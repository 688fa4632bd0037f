//! Issue #15: pipelines. An experiment whose expressions read a result of
//! an earlier one waits for it; `After:` orders without reading; failures
//! skip what depends on them; the cache follows the values read. Real
//! Python modules, a real queue file and a real SQLite store.

use std::path::Path;

use yaml_serde::Value;

use crate::cache::{runner, stderr, stdout};
use crate::test::{documents, read, Test};

/// A module for every test here: sleeps `sleep` seconds, appends
/// `start NAME` / `end NAME` to `order.txt`, checks that the file `read`
/// holds `weights`, writes a `CKPT` file when `write` is true, exits 3 when
/// `fail` is true, and reports `out` (a mapping of UPPER-CASE results).
const MODULE: &str = r#"import json, os, sys, time
exp = json.load(open(os.environ["COOL_RUNNER_EXPERIMENT"]))
name = exp.get("Name")
with open("order.txt", "a") as f:
    f.write("start %s\n" % name)
time.sleep(float(exp.get("sleep", 0)))
if exp.get("read"):
    assert open(exp["read"]).read() == "weights\n", exp["read"]
results = dict(exp.get("out") or {})
if exp.get("write"):
    path = os.path.join(os.environ["COOL_RUNNER_RUN_DIR"], "model.ckpt")
    with open(path, "w") as f:
        f.write("weights\n")
    results["CKPT"] = path
with open("order.txt", "a") as f:
    f.write("end %s\n" % name)
if exp.get("fail"):
    sys.exit(3)
json.dump(results, open(os.environ["COOL_RUNNER_RESULTS"], "w"))
"#;

fn test(file: &str) -> Test {
    Test::new().write("m.py", MODULE).write("e.yaml", file)
}

/// The log's documents by `Name` (the last one of each name).
fn by_name(dir: &Path) -> std::collections::HashMap<String, Value> {
    documents(&dir.join("log.yaml"))
        .into_iter()
        .map(|d| (d["Name"].as_str().unwrap_or("").to_owned(), d))
        .collect()
}

fn order(dir: &Path) -> Vec<String> {
    read(&dir.join("order.txt"))
        .lines()
        .map(str::to_owned)
        .collect()
}

fn at(order: &[String], line: &str) -> usize {
    order
        .iter()
        .position(|l| l == line)
        .unwrap_or_else(|| panic!("`{line}` not in {order:?}"))
}

const HEADER: &str = "\
Global: {repeat: 1}
Module: python3 m.py
YamlLog: log.yaml
";

/// The issue's defect: `parse E["pretrain"].CHECKPOINT` failed at expansion
/// with "the experiment has no key `CHECKPOINT`". A number and a file path
/// written by the first stage are read by the second.
#[test]
fn a_number_and_a_file_path_pass_from_one_stage_to_the_next() {
    let file = format!(
        "{HEADER}---
Name: pretrain
write: true
out: {{EPOCHS: 3}}
---
Name: finetune
read: parse E[\"pretrain\"].CKPT
epochs: parse E[\"pretrain\"].EPOCHS * 2
out: {{DONE: 1}}
"
    );
    let ran = test(&file)
        .args(&["run", "--exp", "e.yaml"])
        .run()
        .status(0);
    let log = by_name(ran.path());
    let finetune = &log["finetune"];
    assert_eq!(finetune["STATUS"], "done", "{finetune:?}");
    assert_eq!(finetune["epochs"].as_i64(), Some(6));
    assert_eq!(finetune["read"], log["pretrain"]["CKPT"]);
    assert!(finetune["read"].as_str().unwrap().ends_with("model.ckpt"));
    // The module checked the file's content: it ran after it was written.
    let seen = order(ran.path());
    assert!(at(&seen, "end pretrain") < at(&seen, "start finetune"));
}

/// `After:` orders without reading a result; `-j 2` does not start it early.
#[test]
fn after_waits_for_the_named_experiments() {
    let file = format!(
        "{HEADER}---
Name: warmup
sleep: 0.6
---
Name: report
After: [warmup]
"
    );
    let ran = test(&file)
        .args(&["run", "--exp", "e.yaml", "-j", "2"])
        .run()
        .status(0);
    let seen = order(ran.path());
    assert!(
        at(&seen, "end warmup") < at(&seen, "start report"),
        "{seen:?}"
    );
    let log = by_name(ran.path());
    // Its identity includes warmup's: `AFTER_IDS` is in the log.
    assert_eq!(
        log["report"]["AFTER_IDS"].as_sequence().map(Vec::len),
        Some(1)
    );
    // An `After` name that is not an earlier experiment is bad input.
    let bad = format!("{HEADER}---\nName: a\n---\nName: b\nAfter: [nope]\n");
    let ran = test(&bad).args(&["run", "--exp", "e.yaml"]).run().status(2);
    assert!(
        ran.stderr()
            .contains("no earlier experiment is named `nope`")
            && ran.stderr().contains("After"),
        "{}",
        ran.stderr()
    );
}

/// A → B, A → C, B + C → D with `-j 2`: B and C run side by side, D after
/// both; an independent experiment later in the queue is not held up by
/// those that wait.
#[test]
fn a_diamond_runs_its_branches_side_by_side() {
    let file = format!(
        "{HEADER}sleep: 0.5
---
Name: a
out: {{X: 1}}
---
Name: b
x: parse E[\"a\"].X + 1
out: {{X: 2}}
---
Name: c
x: parse E[\"a\"].X + 2
out: {{X: 3}}
---
Name: d
sum: parse E[\"b\"].X + E[\"c\"].X
"
    );
    let ran = test(&file)
        .args(&["run", "--exp", "e.yaml", "-j", "2"])
        .run()
        .status(0);
    let seen = order(ran.path());
    let (start_b, start_c) = (at(&seen, "start b"), at(&seen, "start c"));
    let (end_b, end_c) = (at(&seen, "end b"), at(&seen, "end c"));
    assert!(at(&seen, "end a") < start_b.min(start_c), "{seen:?}");
    // B and C overlap: each started before the other ended.
    assert!(start_b < end_c && start_c < end_b, "{seen:?}");
    assert!(end_b.max(end_c) < at(&seen, "start d"), "{seen:?}");
    assert_eq!(by_name(ran.path())["d"]["sum"].as_i64(), Some(5));

    // Waiting experiments do not hold up an independent one behind them.
    let file = format!(
        "{HEADER}---
Name: slow
sleep: 0.8
out: {{X: 1}}
---
Name: waits
x: parse E[-1].X
---
Name: free
"
    );
    let ran = test(&file)
        .args(&["run", "--exp", "e.yaml", "-j", "2"])
        .run()
        .status(0);
    let seen = order(ran.path());
    assert!(at(&seen, "start free") < at(&seen, "end slow"), "{seen:?}");
}

/// A failed stage: what depends on it, transitively, is logged `skipped`
/// with an `ERROR` naming what it waited for; the rest runs; exit status 1.
/// A result still missing after its experiment finished fails, naming the
/// key and the experiment.
#[test]
fn dependents_of_a_failure_are_skipped_and_the_run_exits_1() {
    let file = format!(
        "{HEADER}---
Name: a
fail: true
---
Name: b
x: parse E[\"a\"].X
out: {{Y: 1}}
---
Name: c
y: parse E[\"b\"].Y
---
Name: free
out: {{Z: 1}}
---
Name: missing
z: parse E[\"free\"].NOT_WRITTEN
"
    );
    let ran = test(&file)
        .args(&["run", "--exp", "e.yaml"])
        .run()
        .status(1);
    let log = by_name(ran.path());
    assert_eq!(log["a"]["STATUS"], "failed");
    assert_eq!(log["b"]["STATUS"], "skipped");
    assert!(
        log["b"]["ERROR"]
            .as_str()
            .unwrap()
            .contains("`a` (E[0]), which failed"),
        "{:?}",
        log["b"]
    );
    assert_eq!(log["c"]["STATUS"], "skipped");
    assert!(log["c"]["ERROR"].as_str().unwrap().contains("`b`"));
    assert_eq!(log["free"]["STATUS"], "done");
    assert_eq!(log["missing"]["STATUS"], "failed");
    let error = log["missing"]["ERROR"].as_str().unwrap();
    assert!(
        error.contains("NOT_WRITTEN") && error.contains("`free`") && error.contains("key `z`"),
        "{error}"
    );
    let seen = order(ran.path());
    assert!(!seen.iter().any(|l| l == "start b" || l == "start c"));
    assert!(ran.stderr().contains("skipped"), "{}", ran.stderr());
}

const CHAIN: &str = "\
Global: {repeat: 1}
Module: python3 m.py
YamlLog: log.yaml
---
Name: first
x: 11
out: {X: parse x / 10}
---
Name: second
x: parse E[\"first\"].X
y: 1
out: {Y: parse x + y}
---
Name: third
y: parse E[\"second\"].Y
z: 1
";

/// Which stages run, from `order.txt` (emptied first).
fn stages(dir: &Path, file: &str) -> Vec<String> {
    std::fs::write(dir.join("e.yaml"), file).unwrap();
    let _ = std::fs::remove_file(dir.join("order.txt"));
    let out = runner(dir, &["run", "--exp", "e.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    order(dir)
        .into_iter()
        .filter_map(|l| l.strip_prefix("start ").map(str::to_owned))
        .collect()
}

/// The four cache cases: an unchanged chain reruns nothing; a change of the
/// first stage that changes what the next reads reruns every stage after
/// it; a change of the last stage reruns only it; a first stage that reruns
/// but produces the same values leaves the later ones cached (early cutoff).
#[test]
fn the_cache_follows_the_values_read_through_the_chain() {
    let bg = test(CHAIN);
    let ran = bg.args(&["run", "--exp", "e.yaml"]).run().status(0);
    let dir = ran.path();
    assert_eq!(order(dir).len(), 6);
    // Unchanged: nothing runs.
    assert!(stages(dir, CHAIN).is_empty());
    // The last stage changed: only it runs.
    assert_eq!(stages(dir, &CHAIN.replace("z: 1", "z: 2")), ["third"]);
    // The first stage reruns (x 11 → 12) but still gives X = 1: the rest is
    // cached.
    let same = CHAIN.replace("z: 1", "z: 2").replace("x: 11", "x: 12");
    assert_eq!(stages(dir, &same), ["first"]);
    // x 12 → 25 gives X = 2: every stage after it runs again.
    let changed = same.replace("x: 12", "x: 25");
    assert_eq!(stages(dir, &changed), ["first", "second", "third"]);
    // `explain` says which upstream value differs from the stored runs:
    // with only the first stage run (X = 3), the second would run because
    // the `x` it reads differs.
    std::fs::write(dir.join("e.yaml"), changed.replace("x: 25", "x: 35")).unwrap();
    let out = runner(dir, &["run", "--exp", "e.yaml", "--pick", "0"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = runner(dir, &["explain", "--exp", "e.yaml", "--pick", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("x: 3  (parse E[\"first\"].X)")
            && text.contains("key `x`: stored 2, now 3  (read from an earlier experiment)"),
        "{text}"
    );
    // The third waits for the second, which has no stored run for X = 3.
    let out = runner(dir, &["explain", "--exp", "e.yaml", "--pick", "2"]);
    assert!(
        stdout(&out).contains("waits for `second` (E[1]): no `done` run of it"),
        "{}",
        stdout(&out)
    );
}

/// A dependency on a run finished by an earlier invocation is met from the
/// store at once: `--pick` runs only the second stage, its first stage is
/// not in the queue.
#[test]
fn a_parent_finished_in_an_earlier_invocation_is_read_from_the_store() {
    let file = format!(
        "{HEADER}---
Name: first
out: {{X: 7}}
---
Name: second
x: parse E[\"first\"].X
z: 1
"
    );
    let ran = test(&file)
        .args(&["run", "--exp", "e.yaml", "--pick", "0"])
        .run()
        .status(0);
    let dir = ran.path();
    std::fs::remove_file(dir.join("order.txt")).unwrap();
    let out = runner(dir, &["run", "--exp", "e.yaml", "--pick", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(order(dir), ["start second", "end second"]);
    assert_eq!(by_name(dir)["second"]["x"].as_i64(), Some(7));
    // Without that run in the store, it cannot start: a clear failure, not a hang.
    let out = runner(
        dir,
        &[
            "run",
            "--exp",
            "e.yaml",
            "--pick",
            "1",
            "--no-store",
            "+z=2",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("neither pending nor finished"),
        "{}",
        stderr(&out)
    );
}

/// `--dry`: placeholders name the experiment and key waited for, stderr
/// counts what waits and names the longest chain; a cached parent's stored
/// result is used instead; `--graph` prints text or DOT.
#[test]
fn dry_shows_placeholders_the_longest_chain_and_the_graph() {
    let ran = test(CHAIN)
        .args(&["run", "--exp", "e.yaml", "--dry"])
        .run()
        .status(0);
    let docs = ran.documents();
    assert_eq!(docs[1]["x"], "<waits for first.X>");
    assert_eq!(docs[2]["y"], "<waits for second.Y>");
    let waits = docs[2]["WAITS_FOR"].as_mapping().unwrap();
    assert_eq!(waits.get(Value::from(1)), Some(&Value::from("second")));
    let err = ran.stderr();
    assert!(
        err.contains("0 cached, 1 to run, 2 waiting for results"),
        "{err}"
    );
    assert!(
        err.contains("longest chain: 3 experiments (#0 first → #1 second → #2 third)"),
        "{err}"
    );
    let dir = ran.path();
    // Once the chain ran, a dry run evaluates it with the stored results.
    let out = runner(dir, &["run", "--exp", "e.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = runner(dir, &["run", "--exp", "e.yaml", "--dry"]);
    assert!(
        stderr(&out).contains("3 cached, 0 to run"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("x: 1\n"), "{}", stdout(&out));
    let out = runner(dir, &["run", "--exp", "e.yaml", "--dry", "--graph"]);
    assert_eq!(
        stdout(&out),
        "#1 second <- #0 first\n#2 third <- #1 second\n"
    );
    let out = runner(dir, &["run", "--exp", "e.yaml", "--dry", "--graph", "dot"]);
    let dot = stdout(&out);
    assert!(dot.starts_with("digraph pipeline {"), "{dot}");
    assert!(
        dot.contains("n0 -> n1;") && dot.contains("n1 -> n2;"),
        "{dot}"
    );
    assert!(dot.contains("label=\"#2 third\""), "{dot}");
    assert!(dot.trim_end().ends_with('}'));
}

const QUEUED: &str = "\
Global: {queue: q.yaml}
Module: python3 m.py
YamlLog: log.yaml
---
Name: slow
sleep: 1.0
out: {X: 5}
---
Name: other
sleep: 1.0
out: {X: 6}
---
Name: waits
factor: 2
x: parse E[\"slow\"].X * factor
---
Name: orphan
x: parse E[\"other\"].X
";

/// A waiting experiment stays in the queue file with its `parse` text; a
/// person edits it while it waits (the edit is what runs) and removes the
/// experiment another waits for (that one then fails clearly); `status`
/// shows what waits for what.
#[test]
fn a_waiting_experiment_is_edited_in_the_queue_file() {
    let bg = test(QUEUED)
        .args(&["run", "--exp", "e.yaml", "-j", "1"])
        .spawn();
    let queue = bg.path().join("q.yaml");
    bg.wait_for(10, "slow to start", |bg| {
        read(&bg.path().join("order.txt")).contains("start slow")
    });
    let text = read(&queue);
    assert!(
        text.contains(r#"x: "parse E[\"slow\"].X * factor""#) && text.contains("WAITS_FOR:"),
        "{text}"
    );
    let status = runner(bg.path(), &["status", "--exp", "e.yaml"]);
    assert!(
        stdout(&status).contains("waits (for slow)"),
        "{}",
        stdout(&status)
    );
    // Edit the waiting one, and remove `other` (which `orphan` waits for).
    let edited = text.replace("factor: 2", "factor: 3");
    let start = edited.find("Name: other").unwrap();
    let start = edited[..start].rfind("---").unwrap();
    let end = start + 3 + edited[start + 3..].find("---").unwrap();
    let edited = format!("{}{}", &edited[..start], &edited[end..]);
    let tmp = bg.path().join("q.yaml.tmp");
    std::fs::write(&tmp, edited).unwrap();
    std::fs::rename(&tmp, &queue).unwrap();
    let mut bg = bg;
    let code = bg.wait(20);
    assert_eq!(code, 1, "{}", bg.stderr());
    let log = by_name(bg.path());
    assert_eq!(log["waits"]["x"].as_i64(), Some(15), "{:?}", log["waits"]);
    assert_eq!(log["orphan"]["STATUS"], "failed");
    assert!(
        log["orphan"]["ERROR"]
            .as_str()
            .unwrap()
            .contains("`other` (E[1]), which is neither pending nor finished"),
        "{:?}",
        log["orphan"]
    );
    assert!(!log.contains_key("other"));
}
