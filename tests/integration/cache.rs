//! The results store and the result cache, with real modules and a real
//! SQLite file: what runs the second time, and what `status`, `explain`
//! and `--dry` say.

use std::path::Path;
use std::process::{Command, Output};

use crate::test::{bin, column, documents, read, Test, NAP_MODULE};

/// Run the binary in `dir`; the output.
pub(crate) fn runner(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run cool-runner")
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run and return the names the module ran (from `order.txt`, which is
/// emptied first).
fn ran(dir: &Path, args: &[&str]) -> Vec<String> {
    let _ = std::fs::remove_file(dir.join("order.txt"));
    let out = runner(dir, args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    read(&dir.join("order.txt"))
        .lines()
        .map(str::to_owned)
        .collect()
}

const THREE: &str = "\
Global: {repeat: 1}
Module: ./m.sh
YamlLog: log.yaml
x: 1
---
Name: a
---
Name: b
x: 2
---
Name: c
x: parse E[-1].x + 1
";

#[test]
fn quickstart_twice_launches_no_module_the_second_time() {
    let test = Test::new().with_repo_dirs(&["modules", "experiments"]);
    let dir = test.path();
    let args = [
        "run",
        "--exp",
        "experiments/quickstart.yaml",
        "+step_time=0.01",
    ];
    let first = runner(dir, &args);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let runs = std::fs::read_dir(dir.join("runs")).unwrap().count();
    let second = runner(dir, &args);
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert!(
        stderr(&second).contains("finished: 0 done, 4 cached"),
        "{}",
        stderr(&second)
    );
    assert_eq!(
        std::fs::read_dir(dir.join("runs")).unwrap().count(),
        runs,
        "no module was launched: no new run directory"
    );
    let log = documents(&dir.join("logs/quickstart.yaml"));
    assert_eq!(log.len(), 8);
    assert_eq!(column(&log[4..], "CACHED"), ["true"; 4]);
    assert_eq!(column(&log[4..], "Name"), column(&log[..4], "Name"));
    assert_eq!(column(&log[4..], "ACC")[..3], column(&log[..4], "ACC")[..3]);
    assert!(dir.join(".cool-runner/store.sqlite").exists());
}

#[test]
fn changing_one_parameter_reruns_exactly_the_affected_experiments() {
    let test = Test::new()
        .write_exe("m.sh", NAP_MODULE)
        .write("e.yaml", THREE);
    let dir = test.path();
    assert_eq!(ran(dir, &["run", "--exp", "e.yaml"]), ["a", "b", "c"]);
    assert!(ran(dir, &["run", "--exp", "e.yaml"]).is_empty());
    // `c` follows `b` through `E[-1].x`: both change.
    std::fs::write(dir.join("e.yaml"), THREE.replace("x: 2", "x: 5")).unwrap();
    assert_eq!(ran(dir, &["run", "--exp", "e.yaml"]), ["b", "c"]);
    // A default that `a` alone uses.
    std::fs::write(
        dir.join("e.yaml"),
        THREE.replace("x: 2", "x: 5").replace("x: 1", "x: 7"),
    )
    .unwrap();
    assert_eq!(ran(dir, &["run", "--exp", "e.yaml"]), ["a"]);
    // Overrides and module arguments are part of the identity too.
    assert_eq!(
        ran(dir, &["run", "--exp", "e.yaml", "+y=1"]),
        ["a", "b", "c"]
    );
    assert_eq!(
        ran(dir, &["run", "--exp", "e.yaml", "+y=1", "--fast"]),
        ["a", "b", "c"]
    );
    let log = documents(&dir.join("log.yaml"));
    assert_eq!(log.len(), 3 * 6);
}

#[test]
fn adding_experiments_runs_only_the_new_ones() {
    let test = Test::new()
        .write_exe("m.sh", NAP_MODULE)
        .write("e.yaml", THREE);
    let dir = test.path();
    assert_eq!(ran(dir, &["run", "--exp", "e.yaml"]), ["a", "b", "c"]);
    std::fs::write(
        dir.join("e.yaml"),
        format!("{THREE}---\nName: d\n---\nName: e\nx: 9\n"),
    )
    .unwrap();
    assert_eq!(ran(dir, &["run", "--exp", "e.yaml"]), ["d", "e"]);
}

#[test]
fn a_changed_module_or_fingerprinted_source_invalidates_exactly_its_users() {
    let test = Test::new()
        .write_exe("m1.sh", NAP_MODULE)
        .write_exe("m2.sh", NAP_MODULE)
        .write("src/lib.txt", "v1")
        .write(
            "e.yaml",
            "Global: {}\nYamlLog: log.yaml\n---\nName: a\nModule: ./m1.sh\n---\nName: b\nModule: ./m2.sh\n\
             ---\nName: c\nModule: ./m1.sh\nFingerprint: ['src/*.txt']\n\
             ---\nName: d\nModule: sh m2.sh\n",
        );
    let dir = test.path();
    let args = ["run", "--exp", "e.yaml"];
    assert_eq!(ran(dir, &args), ["a", "b", "c", "d"]);
    assert!(ran(dir, &args).is_empty());
    std::fs::write(dir.join("m2.sh"), format!("{NAP_MODULE}# changed\n")).unwrap();
    // `sh m2.sh`: the script named after the interpreter is fingerprinted.
    assert_eq!(ran(dir, &args), ["b", "d"]);
    std::fs::write(dir.join("src/lib.txt"), "v2").unwrap();
    assert_eq!(ran(dir, &args), ["c"]);
    std::fs::write(dir.join("src/new.txt"), "a new source file").unwrap();
    assert_eq!(ran(dir, &args), ["c"]);
    let explain = runner(dir, &["explain", "--exp", "e.yaml", "--pick", "2"]);
    assert!(
        stdout(&explain).contains("cached: run #"),
        "{}",
        stdout(&explain)
    );
    std::fs::write(dir.join("src/lib.txt"), "v3").unwrap();
    let explain = runner(dir, &["explain", "--exp", "e.yaml", "--pick", "2"]);
    let shown = stdout(&explain);
    assert!(shown.contains("would run"), "{shown}");
    assert!(
        shown.contains("fingerprinted file `src/lib.txt`: content changed"),
        "{shown}"
    );
    assert!(!shown.contains("key `"), "only the file differs: {shown}");
}

#[test]
fn failed_runs_are_not_cached_and_rerun_and_no_store_run_everything() {
    let test = Test::new()
        .write_exe("m.sh", NAP_MODULE)
        .write_exe("fail.sh", "#!/bin/sh\necho fail >> order.txt\nexit 3\n")
        .write(
            "e.yaml",
            "Global: {}\nModule: ./m.sh\n---\nName: a\n---\nName: b\nModule: ./fail.sh\n",
        );
    let dir = test.path();
    let out = runner(dir, &["run", "--exp", "e.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let out = runner(dir, &["run", "--exp", "e.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(read(&dir.join("order.txt")), "a\nfail\nfail\n");
    std::fs::remove_file(dir.join("order.txt")).unwrap();
    let _ = runner(dir, &["run", "--exp", "e.yaml", "--rerun"]);
    let _ = runner(dir, &["run", "--exp", "e.yaml", "--no-store"]);
    assert_eq!(read(&dir.join("order.txt")), "a\nfail\na\nfail\n");
}

#[test]
fn dry_tells_what_is_cached_and_keeps_stdout_pure_yaml() {
    let test = Test::new()
        .write_exe("m.sh", NAP_MODULE)
        .write("e.yaml", THREE);
    let dir = test.path();
    let out = runner(dir, &["run", "--exp", "e.yaml", "--dry"]);
    assert!(
        stderr(&out).contains("0 cached, 3 to run"),
        "{}",
        stderr(&out)
    );
    assert!(
        !dir.join(".cool-runner/store.sqlite").exists(),
        "--dry creates nothing"
    );
    ran(dir, &["run", "--exp", "e.yaml", "--pick", "0"]);
    let out = runner(dir, &["run", "--exp", "e.yaml", "--dry"]);
    let err = stderr(&out);
    assert!(err.contains("1 cached, 2 to run"), "{err}");
    assert!(err.contains("    0 cached    a"), "{err}");
    assert!(err.contains("    1 would run b"), "{err}");
    let shown = stdout(&out);
    assert!(!shown.contains("cached"), "{shown}");
    assert_eq!(shown.matches("Name:").count(), 3, "{shown}");
    let out = runner(dir, &["run", "--exp", "e.yaml", "--dry", "--pick", "2"]);
    assert!(
        stderr(&out).contains("    2 would run c"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn status_shows_a_live_runners_work_from_another_process() {
    let test = Test::new()
        .write_exe("m.sh", NAP_MODULE)
        .write(
            "e.yaml",
            "Module: ./m.sh\nGlobal: {store: db/results.sqlite}\n---\nName: quick\n---\nName: slow\nnap: 30\n",
        )
        .args(&["run", "--exp", "e.yaml", "-j", "2"]);
    let mut bg = test.spawn();
    let status = |bg: &crate::test::Bg| {
        stdout(&runner(
            bg.path(),
            &["status", "--store", "db/results.sqlite"],
        ))
    };
    bg.wait_for(20, "`status` to show the running module", |bg| {
        let shown = status(bg);
        shown.contains("running (1):") && shown.contains("slow") && shown.contains("1 done")
    });
    let shown = status(&bg);
    let line = shown.lines().find(|l| l.contains("slow")).unwrap();
    assert!(line.contains("slot "), "{line}");
    assert!(line.contains("pid "), "{line}");
    assert!(
        shown.contains("runs: 2 (1 done, 1 running)")
            || shown.contains("runs: 2 (1 running, 1 done)"),
        "{shown}"
    );
    assert!(shown.contains("last finished:\n  "), "{shown}");
    // `--exp` finds the store through `Global.store`.
    let by_exp = stdout(&runner(bg.path(), &["status", "--exp", "e.yaml"]));
    assert!(by_exp.contains("running (1):"), "{by_exp}");
    bg.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(bg.wait(20), 130);
    let shown = status(&bg);
    assert!(shown.contains("running: nothing"), "{shown}");
    assert!(shown.contains("1 interrupted"), "{shown}");
}

#[test]
fn status_without_a_store_is_bad_input() {
    let test = Test::new();
    let out = runner(test.path(), &["status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("error: no results store"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn several_runners_share_one_store() {
    let many = |prefix: &str| {
        let mut text = "Global: {store: shared.sqlite}\nModule: ./m.sh\n".to_owned();
        for i in 0..15 {
            text.push_str("---\nName: ");
            text.push_str(prefix);
            text.push_str(&i.to_string());
            text.push('\n');
        }
        text
    };
    let test = Test::new()
        .write_exe("m.sh", NAP_MODULE)
        .write("a.yaml", &many("a"))
        .write("b.yaml", &many("b"));
    let dir = test.path();
    let spawn = |exp: &str| {
        Command::new(bin())
            .current_dir(dir)
            .args(["run", "--exp", exp, "-j", "2"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("a.yaml"), spawn("b.yaml"));
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    }
    let shown = stdout(&runner(dir, &["status", "--store", "shared.sqlite"]));
    assert!(shown.contains("runs: 30 (30 done)"), "{shown}");
    assert!(ran(dir, &["run", "--exp", "a.yaml"]).is_empty());
}

/// `explain --pick N` and `run --pick N` expand the file only up to
/// experiment N: a later experiment whose expression would fail (or take
/// long) is never evaluated.
#[test]
fn pick_expands_only_up_to_the_picked_experiment() {
    let test = Test::new().write_exe("m.sh", NAP_MODULE).write(
        "e.yaml",
        "Global: {}\nModule: ./m.sh\n---\nName: a\n---\nName: b\nRepeat: 2\n\
         ---\nName: late\nx: parse nope + 1\n",
    );
    let dir = test.path();
    let explain = runner(dir, &["explain", "--exp", "e.yaml", "--pick", "1"]);
    assert!(explain.status.success(), "{explain:?}");
    assert!(stdout(&explain).contains("experiment 1 `b`"), "{explain:?}");
    let dry = runner(dir, &["run", "--exp", "e.yaml", "--dry", "--pick", "0,2"]);
    assert!(dry.status.success(), "{dry:?}");
    assert_eq!(stdout(&dry).matches("Name: ").count(), 2, "{dry:?}");
    // Picking the broken one still reports its error, with its place.
    let bad = runner(dir, &["run", "--exp", "e.yaml", "--dry", "--pick", "3"]);
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("nope"),
        "{bad:?}"
    );
}
