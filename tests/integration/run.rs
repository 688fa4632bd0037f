//! `run` for real: modules, environment, logs, failures and bad input.

use std::path::Path;

use crate::test::{column, documents, read, Test, NAP_MODULE};

#[test]
fn quickstart_runs_end_to_end() {
    let test = Test::new().with_repo_dirs(&["modules", "experiments"]);
    let ran = test
        .args(&[
            "run",
            "--exp",
            "experiments/quickstart.yaml",
            "+step_time=0.01",
        ])
        .run()
        .status(0);
    let log = documents(&ran.dir.join("logs/quickstart.yaml"));
    assert_eq!(
        column(&log, "Name"),
        ["small_lr", "large_lr", "doubled", "shell"]
    );
    assert_eq!(column(&log, "STATUS"), ["done"; 4]);
    assert_eq!(column(&log, "lr")[2], "1.0", "E[-1].lr * 2");
    assert!(log[0]["ACC"].as_f64().is_some(), "{:?}", log[0]);
    assert_eq!(log[3]["SHELL_OK"], yaml_serde::Value::Bool(true));
    assert!(!ran.dir.join(".cool-runner/quickstart-queue.yaml").exists());
    let run_dir = ran.dir.join(log[0]["RUN_DIR"].as_str().unwrap());
    for file in [
        "experiment.json",
        "results.yaml",
        "stdout.log",
        "checkpoint.txt",
    ] {
        assert!(
            run_dir.join(file).exists(),
            "{file} in {}",
            run_dir.display()
        );
    }
    assert!(read(&run_dir.join("stdout.log")).contains("small_lr: epoch 5/5"));
    // Module output is also streamed to the terminal.
    assert!(
        ran.stdout().contains("large_lr: epoch 5/5"),
        "{}",
        ran.stdout()
    );
    assert!(
        ran.stderr().contains("finished: 4 done"),
        "{}",
        ran.stderr()
    );
}

const ENV_MODULE: &str = r#"#!/bin/sh
echo "to-stdout"
echo "to-stderr" >&2
{
  echo "ARGS: '$*'"
  echo "PGID_IS_PID: $( [ "$(cut -d' ' -f5 /proc/$$/stat)" = "$$" ] && echo true || echo false )"
  echo "STDIN_EMPTY: $( [ -z "$(cat)" ] && echo true || echo false )"
  echo "RUN_DIR_EXISTS: $( [ -d "$COOL_RUNNER_RUN_DIR" ] && echo true || echo false )"
  echo "EXPERIMENT_FILE: $COOL_RUNNER_EXPERIMENT"
  echo "INHERITED: $FROM_THE_RUNNER"
} > "$COOL_RUNNER_RESULTS"
"#;

#[test]
fn modules_get_the_environment_arguments_and_their_own_group() {
    let ran = Test::new()
        .write_exe("m.sh", ENV_MODULE)
        .write(
            "e.yaml",
            "Global: {}\nModule: ./m.sh --fixed\nYamlLog: log.yaml\nlr: 0.5\n---\nName: a\n",
        )
        .args(&["run", "--exp", "e.yaml", "--lr", "0.1", "--", "--exp", "x"])
        .env("FROM_THE_RUNNER", "yes-please")
        .run()
        .status(0);
    let log = documents(&ran.dir.join("log.yaml"));
    let doc = &log[0];
    assert_eq!(doc["ARGS"].as_str(), Some("--fixed --lr 0.1 --exp x"));
    assert_eq!(doc["INHERITED"].as_str(), Some("yes-please"));
    for key in ["PGID_IS_PID", "STDIN_EMPTY", "RUN_DIR_EXISTS"] {
        assert_eq!(doc[key], yaml_serde::Value::Bool(true), "{key}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&read(Path::new(doc["EXPERIMENT_FILE"].as_str().unwrap()))).unwrap();
    assert_eq!(json["lr"], 0.5);
    assert_eq!(json["Name"], "a");
    assert_eq!(json["REP"], 0);
    assert!(ran.stdout().contains("to-stdout"));
    assert!(ran.stderr().contains("to-stderr"));
    let run_dir = ran.dir.join(doc["RUN_DIR"].as_str().unwrap());
    assert_eq!(read(&run_dir.join("stderr.log")), "to-stderr\n");
    for key in [
        "TIME_ELAPSED",
        "STATUS",
        "EXIT_CODE",
        "STARTED_AT",
        "FINISHED_AT",
    ] {
        assert!(doc.get(key).is_some(), "{key}");
    }
    let started = doc["STARTED_AT"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(started).is_ok(),
        "{started}"
    );
}

#[test]
fn faults_are_logged_and_the_run_goes_on() {
    let ran = Test::new()
        .write_exe(
            "crash.sh",
            "#!/bin/sh\necho partial >&2\necho 'boom: it broke' >&2\nexit 3\n",
        )
        .write_exe("killed.sh", "#!/bin/sh\nkill -KILL $$\n")
        .write_exe(
            "bad_results.sh",
            "#!/bin/sh\necho 'ACC: [1, 2' > \"$COOL_RUNNER_RESULTS\"\n",
        )
        .write_exe(
            "list_results.sh",
            "#!/bin/sh\necho '[1, 2]' > \"$COOL_RUNNER_RESULTS\"\n",
        )
        .write("not_exec.sh", "#!/bin/sh\nexit 0\n")
        .write_exe(
            "ok.sh",
            "#!/bin/sh\necho '{\"ACC\": 0.9}' > \"$COOL_RUNNER_RESULTS\"\n",
        )
        .write(
            "e.yaml",
            "Global: {}\nYamlLog: logs/deep/log.yaml\n\
             ---\nName: missing\nModule: ./nope.sh\n\
             ---\nName: not_exec\nModule: ./not_exec.sh\n\
             ---\nName: crash\nModule: ./crash.sh\n\
             ---\nName: killed\nModule: ./killed.sh\n\
             ---\nName: bad_results\nModule: ./bad_results.sh\n\
             ---\nName: list_results\nModule: ./list_results.sh\n\
             ---\nName: on_path\nModule: ok.sh\n\
             ---\nName: timeout\nModule: sleep 5\nTimeout: 0.3\n\
             ---\nName: ok\nModule: ./ok.sh\n",
        )
        .args(&["run", "--exp", "e.yaml"])
        .run()
        .status(1);
    let log = documents(&ran.dir.join("logs/deep/log.yaml"));
    assert_eq!(
        column(&log, "STATUS"),
        ["failed", "failed", "failed", "failed", "failed", "failed", "failed", "timeout", "done"]
    );
    assert_eq!(
        column(&log, "EXIT_CODE"),
        ["127", "126", "3", "137", "0", "0", "127", "143", "0"]
    );
    let errors = column(&log, "ERROR");
    assert!(
        errors[0].contains("module `./nope.sh` not found"),
        "{}",
        errors[0]
    );
    assert!(errors[1].contains("is not executable"), "{}", errors[1]);
    assert_eq!(errors[2], "~");
    assert!(errors[3].contains("killed by SIGKILL"), "{}", errors[3]);
    assert!(errors[4].contains("invalid results"), "{}", errors[4]);
    assert!(errors[5].contains("expected a mapping"), "{}", errors[5]);
    assert!(errors[6].contains("hint: write `./ok.sh`"), "{}", errors[6]);
    assert!(errors[7].contains("Timeout"), "{}", errors[7]);
    assert_eq!(
        log[2]["STDERR_TAIL"].as_str(),
        Some("partial\nboom: it broke")
    );
    assert_eq!(log[3]["SIGNAL"].as_str(), Some("SIGKILL"));
    assert!(log[7]["TIME_ELAPSED"].as_f64().unwrap() < 3.0);
    assert_eq!(log[8]["ACC"].as_f64(), Some(0.9));
    assert!(
        ran.stderr()
            .contains("finished: 1 done, 7 failed, 1 timed out"),
        "{}",
        ran.stderr()
    );
}

#[test]
fn fail_fast_stops_at_the_first_failure() {
    let ran = Test::new()
        .write_exe("m.sh", NAP_MODULE)
        .write(
            "e.yaml",
            "Global: {queue: q.yaml}\nModule: ./m.sh\nYamlLog: log.yaml\n\
             ---\nName: a\n---\nName: b\nModule: 'false'\n---\nName: c\n",
        )
        .args(&["run", "--exp", "e.yaml", "--fail-fast"])
        .run()
        .status(1);
    assert_eq!(
        column(&documents(&ran.dir.join("log.yaml")), "STATUS"),
        ["done", "failed"]
    );
    assert_eq!(column(&documents(&ran.dir.join("q.yaml")), "Name"), ["c"]);
}

#[test]
fn skip_experiments_are_not_run_or_logged() {
    let ran = Test::new()
        .write_exe("m.sh", NAP_MODULE)
        .write(
            "e.yaml",
            "Global: {}\nModule: ./m.sh\nYamlLog: log.yaml\n\
             ---\nName: skip\nx: 1\n---\nName: b\ny: parse E[-1].x + 1\n",
        )
        .args(&["run", "--exp", "e.yaml"])
        .run()
        .status(0);
    let log = documents(&ran.dir.join("log.yaml"));
    assert_eq!(column(&log, "Name"), ["b"]);
    assert_eq!(column(&log, "y"), ["2"]);
    assert_eq!(read(&ran.dir.join("order.txt")), "b\n");
    assert!(ran.stderr().contains("skipped `skip`"));
}

#[test]
fn bad_runner_keys_are_bad_input_and_nothing_runs() {
    for (body, message) in [
        ("Name: a\n", "experiment 0 `a`: no `Module`"),
        (
            "Name: a\nModule: ./m.sh\nTimeout: -3\n",
            "`Timeout` must be a positive number",
        ),
        ("Name: a\nModule: \"./m.sh 'x\"\n", "cannot split"),
    ] {
        let ran = Test::new()
            .write_exe("m.sh", NAP_MODULE)
            .write("e.yaml", &format!("Global: {{}}\n---\n{body}"))
            .args(&["run", "--exp", "e.yaml"])
            .run()
            .status(2);
        assert!(ran.stderr().starts_with("error: "), "{}", ran.stderr());
        assert!(ran.stderr().contains(message), "{}", ran.stderr());
        assert!(!ran.dir.join("order.txt").exists());
    }
    let ran = Test::new()
        .write("e.yaml", "Global: {grace: soon}\nModule: x\n---\nName: a\n")
        .args(&["run", "--exp", "e.yaml"])
        .run()
        .status(2);
    assert!(
        ran.stderr().contains("`Global.grace` must be"),
        "{}",
        ran.stderr()
    );
}

#[test]
fn misspelled_global_keys_are_bad_input_with_a_hint() {
    let file =
        "Global: {repaet: 3, queu: q.yaml}\nModule: ./m.sh\nYamlLog: log.yaml\n---\nName: a\n";
    for args in [
        &["run", "--exp", "e.yaml"][..],
        &["run", "--exp", "e.yaml", "--dry"],
    ] {
        let ran = Test::new()
            .write_exe("m.sh", NAP_MODULE)
            .write("e.yaml", file)
            .args(args)
            .run()
            .status(2);
        let err = ran.stderr();
        assert!(err.starts_with("error: e.yaml:1 "), "{err}");
        assert!(
            err.contains("unknown key `Global.repaet`; did you mean `repeat`?"),
            "{err}"
        );
        assert!(
            ran.stdout().is_empty(),
            "nothing expanded: {}",
            ran.stdout()
        );
        assert!(!ran.dir.join("log.yaml").exists(), "nothing ran");
    }
    // An override, a nested key, and a command that only reads `Global.store`.
    let nested =
        "Global:\n  repeat: 1\n  slack:\n    chanel: \"#x\"\nModule: ./m.sh\n---\nName: a\n";
    for (text, args, message) in [
        (
            "Global: {}\nModule: ./m.sh\n---\nName: a\n",
            &["run", "--exp", "e.yaml", "+Global.queu=q.yaml"][..],
            "unknown key `Global.queu`; did you mean `queue`?",
        ),
        (
            nested,
            &["run", "--exp", "e.yaml"],
            "e.yaml:4 (document 0 (default config), key `Global.slack.chanel`): \
             unknown key `Global.slack.chanel`; did you mean `channel`?",
        ),
        (
            file,
            &["status", "--exp", "e.yaml"],
            "did you mean `repeat`?",
        ),
    ] {
        let ran = Test::new()
            .write_exe("m.sh", NAP_MODULE)
            .write("e.yaml", text)
            .args(args)
            .run()
            .status(2);
        assert!(ran.stderr().contains(message), "{}", ran.stderr());
        assert!(!ran.dir.join("q.yaml").exists());
    }
}

#[test]
fn python_helper_round_trips() {
    let test = Test::new().with_repo_dirs(&["modules"]);
    let ran = test
        .write(
            "m.py",
            "import sys\nsys.path.insert(0, 'modules')\nimport cool_runner\n\
             exp = cool_runner.load()\ncool_runner.save(DOUBLE=exp['x'] * 2)\n\
             cool_runner.save(NAME_SEEN=exp['Name'])\n",
        )
        .write(
            "e.yaml",
            "Global: {}\nModule: python3 m.py\nYamlLog: log.yaml\n---\nName: p\nx: 21\n",
        )
        .args(&["run", "--exp", "e.yaml"])
        .run()
        .status(0);
    let log = documents(&ran.dir.join("log.yaml"));
    assert_eq!(log[0]["DOUBLE"].as_i64(), Some(42));
    assert_eq!(log[0]["NAME_SEEN"].as_str(), Some("p"));
}

#[test]
fn a_background_grandchild_holding_the_pipes_does_not_hold_up_the_run() {
    let started = std::time::Instant::now();
    let ran = Test::new()
        .write_exe("m.sh", "#!/bin/sh\necho before\nsleep 3 &\necho after\n")
        .write(
            "e.yaml",
            "Global: {}\nModule: ./m.sh\nYamlLog: log.yaml\n---\nName: a\n---\nName: b\n",
        )
        .args(&["run", "--exp", "e.yaml"])
        .run()
        .status(0);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "waited for the grandchild: {:?}",
        started.elapsed()
    );
    assert_eq!(
        column(&documents(&ran.dir.join("log.yaml")), "STATUS"),
        ["done", "done"]
    );
    let run_dir = documents(&ran.dir.join("log.yaml"))[0]["RUN_DIR"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        read(&ran.dir.join(run_dir).join("stdout.log")),
        "before\nafter\n"
    );
}

/// The log format, whole (timestamps, durations, host and run directories
/// redacted).
#[test]
fn log_document_snapshot() {
    let ran = Test::new()
        .write_exe(
            "m.sh",
            "#!/bin/sh\nprintf 'ACC: 0.75\\nLOSS: [0.5, 0.25]\\n' > \"$COOL_RUNNER_RESULTS\"\n",
        )
        .write_exe("fail.sh", "#!/bin/sh\necho 'out of memory' >&2\nexit 2\n")
        .write(
            "e.yaml",
            "Global: {}\nModule: ./m.sh\nYamlLog: log.yaml\nlr: 0.1\nRND_IDX: 123456\n\
             ---\nName: ok\nnested: {depth: 2}\n---\nName: bad\nModule: ./fail.sh\n",
        )
        .args(&["run", "--exp", "e.yaml"])
        .run()
        .status(1);
    let log = read(&ran.dir.join("log.yaml"));
    insta::with_settings!({filters => vec![
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", "[TIME]"),
        (r"TIME_ELAPSED: [0-9.e-]+", "TIME_ELAPSED: [SECONDS]"),
        (r"HOST: .*", "HOST: [HOST]"),
        (r"runs/\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d-", "runs/[STAMP]-"),
    ]}, {
        insta::assert_snapshot!(log);
    });
}
