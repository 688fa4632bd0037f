//! Issue 12, with real modules (Python and shell) and the real binary:
//! aggregation counts each run once, the cache identity of an experiment
//! does not depend on its neighbours, `collect` skips the runner's own
//! files, `filter` tables, `status --json` and `log`, retries.

use std::fmt::Write as _;
use std::process::Command;

use crate::cache::{runner, stderr, stdout};
use crate::test::{bin, Test};

/// 2 learning rates × 2 seeds of the Python example module; the last one
/// always times out.
const SWEEP: &str = "\
Global: {repeat: 1}
Module: python3 modules/train.py
YamlLog: logs/sweep.yaml
epochs: 2
step_time: 0.01
---
lr: 0.1
seed: 1
---
lr: 0.1
seed: 2
---
lr: 0.2
seed: 1
---
lr: 0.2
seed: 2
epochs: 100
step_time: 0.05
Timeout: 0.6
";

/// Three runs of the sweep append 12 documents: 3 runs, 6 cached copies of
/// them and 3 timeouts. Mean ± std counts the 3 runs.
#[test]
fn aggregation_counts_each_finished_run_once() {
    let test = Test::new()
        .with_repo_dirs(&["modules"])
        .write("sweep.yaml", SWEEP);
    let dir = test.path();
    for _ in 0..3 {
        let out = runner(dir, &["run", "--exp", "sweep.yaml"]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    }
    let agg = [
        "filter",
        "logs/sweep.yaml",
        "--group-by",
        "lr",
        "--agg",
        "ACC,LOSS",
    ];
    let out = runner(dir, &[&agg[..], &["--format", "json"]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let groups: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let n: Vec<(f64, u64)> = groups
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["lr"].as_f64().unwrap(), g["n"].as_u64().unwrap()))
        .collect();
    assert_eq!(n, [(0.1, 2), (0.2, 1)], "{groups}");
    let note = stderr(&out);
    assert!(note.contains("6 copies of runs already counted"), "{note}");
    assert!(note.contains("--include-cached"), "{note}");
    assert!(note.contains("3 `timeout`"), "{note}");
    assert!(note.contains("--all-statuses"), "{note}");

    // Every document, as before, when asked.
    let all = [
        &agg[..],
        &["--format", "json", "--all-statuses", "--include-cached"],
    ]
    .concat();
    let out = runner(dir, &all);
    let groups: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(groups[0]["n"], 6, "{groups}");
    assert_eq!(groups[1]["n"], 6, "{groups}");
    assert!(!stderr(&out).contains("left out"), "{}", stderr(&out));
}

/// One experiment writes `RND_IDX: 5`; the others draw theirs. After a full
/// run, `--dry` says cached for all: a drawn `RND_IDX` is never part of the
/// identity, whatever the neighbours write.
#[test]
fn a_written_rnd_idx_does_not_change_the_neighbours_identity() {
    let test = Test::new().with_repo_dirs(&["modules"]).write(
        "f.yaml",
        "Global: {repeat: 1}\nModule: python3 modules/train.py\nYamlLog: logs/f.yaml\n\
         epochs: 1\nstep_time: 0.01\n---\nName: a\n---\nName: b\nlr: 0.3\nRepeat: 2\n\
         ---\nName: c\nRND_IDX: 5\n",
    );
    let dir = test.path();
    let out = runner(dir, &["run", "--exp", "f.yaml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dry = runner(dir, &["run", "--exp", "f.yaml", "--dry"]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(
        stderr(&dry).contains("4 cached, 0 to run"),
        "{}",
        stderr(&dry)
    );
    // The written one is marked, the drawn ones are not.
    let shown = stdout(&dry);
    assert_eq!(shown.matches("RND_IDX_GIVEN: true").count(), 1, "{shown}");
    // A written RND_IDX is still part of the identity.
    std::fs::write(
        dir.join("f.yaml"),
        crate::test::read(&dir.join("f.yaml")).replace("RND_IDX: 5", "RND_IDX: 6"),
    )
    .unwrap();
    let dry = runner(dir, &["run", "--exp", "f.yaml", "--dry"]);
    assert!(
        stderr(&dry).contains("3 cached, 1 to run"),
        "{}",
        stderr(&dry)
    );
}

/// `collect proj/` after a run: the log and a foreign log (no `STATUS`),
/// not the run directories (marked, or named as older versions named
/// them), the `.cool-runner/` folder or the experiment file.
#[test]
fn collect_skips_the_runners_own_files() {
    let test = Test::new()
        .with_repo_dirs(&["modules"])
        .write(
            "proj/sweep.yaml",
            &SWEEP.replace("Global: {repeat: 1}", "Global: {repeat: 1, runs: runs}"),
        )
        .write("proj/other/tool.yaml", "Name: foreign\nacc: 1\n");
    let dir = test.path();
    std::fs::rename(dir.join("modules"), dir.join("proj/modules")).unwrap();
    let out = runner(&dir.join("proj"), &["run", "--exp", "sweep.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // A run directory of an older version: no marker.
    let runs = dir.join("proj/runs");
    let mut all: Vec<_> = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    all.sort();
    let first = &all[0];
    let old = dir.join("proj/old-runs").join(first.file_name().unwrap());
    std::fs::create_dir_all(&old).unwrap();
    for file in ["experiment.json", "results.yaml"] {
        std::fs::copy(first.join(file), old.join(file)).unwrap();
    }
    let out = runner(dir, &["collect", "proj", "--dest", "out"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let log = crate::test::documents(&dir.join(stdout(&out).trim()));
    let statuses = crate::test::column(&log, "STATUS");
    assert_eq!(
        statuses,
        ["done", "done", "done", "timeout", "~"],
        "{log:?}"
    );
    let summary = stderr(&out);
    assert!(
        summary.contains("collected 5 documents from 2 files"),
        "{summary}"
    );
    assert!(
        summary.contains("5 run directories, 1 state folder or queue file, 1 experiment file (`--all` reads them)"),
        "{summary}"
    );
    let out = runner(dir, &["collect", "proj", "--all", "--dest", "out"]);
    assert!(
        stderr(&out).contains("collected 14 documents from 7 files"),
        "{}",
        stderr(&out)
    );
}

/// A log of 3 runs with 12 parameters and 13 results: 25 columns.
fn wide_log() -> String {
    let mut text = String::new();
    for run in 0..3 {
        text.push_str("---\nName: ");
        text.push_str(["学習率の探索", "baseline", "ablation-no-dropout"][run]);
        text.push('\n');
        for p in 0..11 {
            let _ = writeln!(text, "param_{p}: {}", run * 10 + p);
        }
        for r in 0..11 {
            let _ = writeln!(text, "METRIC_{r}: 0.{}{}", run + 1, r + 1);
        }
        if run == 1 {
            text.push_str("PARTIAL: true\n");
        }
        let _ = writeln!(text, "STATUS: done\nEXIT_CODE: {run}");
    }
    text
}

#[test]
fn wide_tables_fit_the_width_in_panels() {
    let ran = Test::new()
        .write("wide.yaml", &wide_log())
        .args(&["filter", "wide.yaml", "--format", "table", "--width", "100"])
        .run()
        .status(0);
    let table = ran.stdout();
    assert!(table.lines().all(|l| unicode_width(l) <= 100), "{table}");
    insta::assert_snapshot!("wide_table_panels", table);
    assert!(ran.stderr().contains("4 panels"), "{}", ran.stderr());
    // Any width when asked: one line per row.
    let ran = Test::new()
        .write("wide.yaml", &wide_log())
        .args(&["filter", "wide.yaml", "--format", "table", "--width", "0"])
        .run()
        .status(0);
    assert_eq!(ran.stdout().lines().count(), 5, "{}", ran.stdout());
}

/// Terminal columns of a line: two for a CJK character.
fn unicode_width(line: &str) -> usize {
    line.chars()
        .map(|c| {
            if ('\u{3000}'..='\u{9fff}').contains(&c) {
                2
            } else {
                1
            }
        })
        .sum()
}

#[test]
fn wide_characters_align_and_keep_keys_keep_their_order() {
    let ran = Test::new()
        .write("wide.yaml", &wide_log())
        .args(&[
            "filter",
            "wide.yaml",
            "--format",
            "table",
            "--keep-keys",
            "Name",
            "STATUS",
            "PARTIAL",
            "EXIT_CODE",
            "METRIC_0",
            "NOT_THERE",
        ])
        .run()
        .status(0);
    let table = ran.stdout();
    insta::assert_snapshot!("keep_keys_order_and_wide_characters", table);
    // STATUS starts at the same terminal column on every line.
    let at = |line: &str, word: &str| line.find(word).map(|i| unicode_width(&line[..i]));
    let lines: Vec<&str> = table.lines().collect();
    let status = at(lines[0], "STATUS");
    assert!(
        lines[2..].iter().all(|l| at(l, "done") == status),
        "{table}"
    );
}

#[test]
fn a_bare_key_gets_a_hint_towards_exp() {
    let ran = Test::new()
        .write("wide.yaml", &wide_log())
        .args(&["filter", "wide.yaml", "--sort", "METRIC_0"])
        .run()
        .status(2);
    assert!(
        ran.stderr().contains("write `exp.METRIC_0`"),
        "{}",
        ran.stderr()
    );
}

/// `filter -` reads standard input, `filter DIR` the logs in it (not the
/// run directories or the experiment file).
#[test]
fn filter_reads_stdin_and_directories() {
    let test = Test::new()
        .with_repo_dirs(&["modules"])
        .write("sweep.yaml", SWEEP);
    let dir = test.path();
    let out = runner(dir, &["run", "--exp", "sweep.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let log = std::fs::read(dir.join("logs/sweep.yaml")).unwrap();
    let mut child = Command::new(bin())
        .current_dir(dir)
        .args([
            "filter",
            "-",
            "--keep-keys",
            "lr",
            "STATUS",
            "--format",
            "csv",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &log).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let csv = "lr,STATUS\n0.1,done\n0.1,done\n0.2,done\n0.2,timeout\n";
    assert_eq!(stdout(&out), csv);
    let out = runner(
        dir,
        &[
            "filter",
            ".",
            "--keep-keys",
            "lr",
            "STATUS",
            "--format",
            "csv",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), csv);
}

/// A shell module that prints `NAME line N` three times, a `tick` apart,
/// and one line on stderr.
const TICKS: &str = r#"#!/bin/sh
name=$(sed -n 's/^  "Name": "\(.*\)",*$/\1/p' "$COOL_RUNNER_EXPERIMENT")
for i in 1 2 3; do echo "$name line $i"; sleep 0.4; done
echo "$name warns" >&2
"#;

/// `status --exp --json` while a queue runs: the running one and the
/// pending ones; `log NAME -f` follows it to its end, `log INDEX` prints a
/// finished one.
#[test]
fn status_json_shows_the_queue_and_log_follows_a_run() {
    let test = Test::new().write_exe("m.sh", TICKS).write(
        "q.yaml",
        "Global: {repeat: 1, queue: .cool-runner/q.yaml}\nModule: ./m.sh\n---\nName: first\n\
         ---\nName: second\n---\nName: third\n",
    );
    let mut bg = test.args(&["run", "--exp", "q.yaml"]).spawn();
    let dir = bg.path().to_owned();
    let status = || -> serde_json::Value {
        let out = runner(&dir, &["status", "--exp", "q.yaml", "--json"]);
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    };
    // The queue file loses a started experiment at the runner's next
    // flush (group commit), a few milliseconds after it started.
    bg.wait_for(10, "`first` to run and leave the queue file", |_| {
        let shown = status();
        shown["running"][0]["name"] == "first" && shown["queue"]["pending"] == 2
    });
    let shown = status();
    assert_eq!(shown["queue"]["pending"], 2, "{shown}");
    assert_eq!(
        shown["queue"]["next"],
        serde_json::json!(["second", "third"])
    );
    let plain = stdout(&runner(&dir, &["status", "--exp", "q.yaml"]));
    assert!(
        plain.contains("pending: 2 in .cool-runner/q.yaml, next: second, third"),
        "{plain}"
    );

    let followed = runner(&dir, &["log", "first", "-f"]);
    assert!(followed.status.success(), "{}", stderr(&followed));
    assert_eq!(
        stdout(&followed),
        "first line 1\nfirst line 2\nfirst line 3\n"
    );
    assert!(
        stderr(&followed).contains("first warns"),
        "{}",
        stderr(&followed)
    );
    // Followed to its end (or, on a slow machine, found ended already).
    let said = stderr(&followed);
    assert!(
        said.contains("ended: done") || said.contains("`first` (done)"),
        "{said}"
    );
    assert_eq!(bg.wait(20), 0, "{}", bg.stderr());

    let by_index = runner(&dir, &["log", "2"]);
    assert_eq!(
        stdout(&by_index),
        "third line 1\nthird line 2\nthird line 3\n"
    );
    let shown = status();
    assert_eq!(shown["counts"]["done"], 3, "{shown}");
    assert_eq!(shown["queue"]["pending"], 0, "{shown}");
    let missing = runner(&dir, &["log", "nope"]);
    assert_eq!(missing.status.code(), Some(2));
}

/// Fails until its third start (it counts them in `count`).
const FLAKY: &str = r#"#!/bin/sh
n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count
echo "start $n"
[ "$n" -ge 3 ] && { echo "ACC: 0.9" > "$COOL_RUNNER_RESULTS"; exit 0; }
echo "flaky failure" >&2; exit 1
"#;

/// `Retries: 2`: three attempts, each in its own run directory, one log
/// document (the last attempt's, with `ATTEMPTS: 3`); `--retries 1` for a
/// module that always fails: two attempts, logged once as failed. The
/// cache still hits: `Retries` and `ATTEMPTS` are not in the identity.
#[test]
fn retries_start_a_failed_experiment_again_in_a_new_run_directory() {
    let test = Test::new()
        .with_repo_dirs(&["modules"])
        .write_exe("flaky.sh", FLAKY)
        .write(
            "e.yaml",
            "Global: {repeat: 1}\nModule: ./flaky.sh\nYamlLog: log.yaml\n---\nName: flaky\n\
             Retries: 2\n",
        )
        .write(
            "fail.yaml",
            "Global: {repeat: 1}\nModule: python3 modules/train.py --fail\nYamlLog: fail.yaml.log\n\
             ---\nName: broken\n",
        );
    let dir = test.path();
    let out = runner(dir, &["run", "--exp", "e.yaml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("retrying `flaky`: attempt 2 of 3"),
        "{}",
        stderr(&out)
    );
    let log = crate::test::documents(&dir.join("log.yaml"));
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["STATUS"], "done");
    assert_eq!(log[0]["ATTEMPTS"], 3);
    let runs: Vec<_> = std::fs::read_dir(dir.join("runs")).unwrap().collect();
    assert_eq!(runs.len(), 3);
    let dry = runner(dir, &["run", "--exp", "e.yaml", "--dry"]);
    assert!(
        stderr(&dry).contains("1 cached, 0 to run"),
        "{}",
        stderr(&dry)
    );

    let out = runner(dir, &["run", "--exp", "fail.yaml", "--retries", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let log = crate::test::documents(&dir.join("fail.yaml.log"));
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["STATUS"], "failed");
    assert_eq!(log[0]["ATTEMPTS"], 2);
    assert_eq!(log[0]["Retries"], 1);

    let bad = runner(dir, &["run", "--exp", "fail.yaml", "+Retries=-1", "--dry"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
}
