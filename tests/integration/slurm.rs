//! `run --executor slurm` against a real one-node Slurm cluster
//! (`.ci/slurm/start-local-slurm.sh`; `.ci/run` starts it). Where there is
//! no `sbatch` the tests say so and pass, unless `COOL_RUNNER_REQUIRE_SLURM=1`
//! (set by `.ci/run`), which makes a missing cluster a failure.
//!
//! Every test counts the Slurm calls through a PATH shim and polls fast
//! (`COOL_RUNNER_SLURM_POLL`), so the whole file takes well under a minute
//! of Slurm's own scheduling steps.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::test::Test;

const POLL: &str = "0.5";

/// Whether a cluster is here; a visible skip otherwise (a failure in CI).
fn cluster() -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("sbatch").is_file()));
    if !found {
        assert!(
            std::env::var("COOL_RUNNER_REQUIRE_SLURM").as_deref() != Ok("1"),
            "COOL_RUNNER_REQUIRE_SLURM=1 but there is no `sbatch` on PATH \
             (start the cluster: bash .ci/slurm/start-local-slurm.sh)"
        );
        eprintln!("SKIPPED: no `sbatch` on PATH, no Slurm cluster to test against");
    }
    found
}

/// A directory of shims that log each Slurm call to `calls.log`, then run
/// the real command; PATH for the runner.
fn shim(dir: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    let shims = dir.join("shim");
    std::fs::create_dir_all(&shims).unwrap();
    let log = dir.join("calls.log");
    for name in ["sbatch", "squeue", "scontrol", "scancel", "sacct"] {
        let real = which(name);
        let Some(real) = real else { continue };
        let script = format!(
            "#!/bin/sh\necho \"{name} $*\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            real.display()
        );
        let path = shims.join(name);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    format!("{}:{}", shims.display(), std::env::var("PATH").unwrap())
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// How many times each Slurm command was called.
fn calls(dir: &Path, name: &str) -> usize {
    std::fs::read_to_string(dir.join("calls.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.split_whitespace().next() == Some(name))
        .count()
}

/// A test directory with the shims and fast polling.
fn slurm_test() -> Test {
    let test = Test::new();
    let path = shim(test.path());
    test.env("PATH", &path).env("COOL_RUNNER_SLURM_POLL", POLL)
}

fn documents(path: &Path) -> Vec<yaml_serde::Mapping> {
    use serde::Deserialize;
    let text = std::fs::read_to_string(path).unwrap_or_default();
    yaml_serde::Deserializer::from_str(&text)
        .filter_map(|d| match yaml_serde::Value::deserialize(d).unwrap() {
            yaml_serde::Value::Mapping(m) => Some(m),
            _ => None,
        })
        .collect()
}

fn get<'a>(doc: &'a yaml_serde::Mapping, key: &str) -> &'a yaml_serde::Value {
    doc.get(key)
        .unwrap_or_else(|| panic!("no `{key}` in {doc:?}"))
}

fn text<'a>(doc: &'a yaml_serde::Mapping, key: &str) -> &'a str {
    get(doc, key)
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` is not text in {doc:?}"))
}

fn by_name<'a>(docs: &'a [yaml_serde::Mapping], name: &str) -> &'a yaml_serde::Mapping {
    docs.iter()
        .find(|d| d.get("Name").and_then(|n| n.as_str()) == Some(name))
        .unwrap_or_else(|| panic!("no document `{name}` in {docs:?}"))
}

#[test]
fn quickstart_runs_as_one_array_and_logs_as_locally() {
    if !cluster() {
        return;
    }
    let test = slurm_test().with_repo_dirs(&["experiments", "modules"]);
    let dir = test.path().to_owned();
    let started = Instant::now();
    let ran = test
        .args(&[
            "run",
            "--exp",
            "experiments/quickstart.yaml",
            "--executor",
            "slurm",
        ])
        .run()
        .status(0);
    let elapsed = started.elapsed();
    let docs = documents(&ran.dir.join("logs/quickstart.yaml"));
    assert_eq!(docs.len(), 4, "{}", ran.stderr());
    let mut arrays = Vec::new();
    for doc in &docs {
        assert_eq!(text(doc, "STATUS"), "done", "{doc:?}");
        assert_eq!(get(doc, "EXIT_CODE").as_i64(), Some(0));
        assert_eq!(text(doc, "SLURM_STATE"), "COMPLETED");
        assert!(!text(doc, "SLURM_NODE").is_empty());
        let (array, task) = text(doc, "SLURM_JOB_ID").split_once('_').unwrap();
        arrays.push(array.to_owned());
        assert!(task.parse::<u32>().unwrap() < 4);
        assert!(Path::new(&ran.dir)
            .join(text(doc, "RUN_DIR"))
            .join("done.json")
            .is_file());
    }
    arrays.dedup();
    assert_eq!(arrays.len(), 1, "one job array: {arrays:?}");
    // The same documents as a local run writes, plus the Slurm keys.
    let local = Test::new()
        .with_repo_dirs(&["experiments", "modules"])
        .args(&["run", "--exp", "experiments/quickstart.yaml"])
        .run()
        .status(0);
    let local_docs = documents(&local.dir.join("logs/quickstart.yaml"));
    let keys = |d: &yaml_serde::Mapping| {
        d.keys()
            .filter_map(|k| k.as_str())
            .filter(|k| !k.starts_with("SLURM_"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        keys(by_name(&docs, "small_lr")),
        keys(by_name(&local_docs, "small_lr"))
    );
    assert_eq!(
        get(by_name(&docs, "shell"), "SHELL_OK"),
        &yaml_serde::Value::Bool(true)
    );
    // One sbatch; at most one squeue per poll, whatever the number of jobs.
    assert_eq!(calls(&dir, "sbatch"), 1);
    let polls = (elapsed.as_secs_f64() / POLL.parse::<f64>().unwrap()).ceil() as usize + 1;
    assert!(
        calls(&dir, "squeue") <= polls,
        "{} squeue calls in {elapsed:?}",
        calls(&dir, "squeue")
    );
    assert_eq!(calls(&dir, "sacct"), 0);
    assert_eq!(calls(&dir, "scancel"), 0);
}

const STATES: &str = "\
Global: {queue: null}
Module: sh job.sh
YamlLog: log.yaml
---
Name: ok
---
Name: exit3
---
Name: killed
---
Name: slow
Timeout: 1
";

const JOB: &str = r#"
name=$(sed -n 's/^ *"Name": *"\(.*\)",*$/\1/p' "$COOL_RUNNER_EXPERIMENT" | head -n 1)
case "$name" in
  ok) echo "RESTARTS: $COOL_RUNNER_RESTARTS" > "$COOL_RUNNER_RESULTS" ;;
  exit3) echo "to stderr" >&2; exit 3 ;;
  killed) kill -9 $$ ;;
  slow) sleep 30 ;;
esac
"#;

#[test]
fn exit_codes_signals_and_timeouts_map_onto_local_statuses() {
    if !cluster() {
        return;
    }
    let test = slurm_test().write("e.yaml", STATES).write("job.sh", JOB);
    let dir = test.path().to_owned();
    let ran = test
        .args(&["run", "--exp", "e.yaml", "--executor", "slurm"])
        .run()
        .status(1);
    let docs = documents(&ran.dir.join("log.yaml"));
    assert_eq!(docs.len(), 4, "{}", ran.stderr());
    let ok = by_name(&docs, "ok");
    assert_eq!(text(ok, "STATUS"), "done");
    assert_eq!(get(ok, "RESTARTS").as_i64(), Some(0));
    let exit3 = by_name(&docs, "exit3");
    assert_eq!(
        (text(exit3, "STATUS"), get(exit3, "EXIT_CODE").as_i64()),
        ("failed", Some(3))
    );
    assert_eq!(text(exit3, "SLURM_STATE"), "FAILED");
    assert!(text(exit3, "STDERR_TAIL").contains("to stderr"));
    let killed = by_name(&docs, "killed");
    assert_eq!(text(killed, "STATUS"), "failed");
    assert_eq!(get(killed, "EXIT_CODE").as_i64(), Some(137));
    assert_eq!(text(killed, "SIGNAL"), "SIGKILL");
    let slow = by_name(&docs, "slow");
    assert_eq!(text(slow, "STATUS"), "timeout", "{slow:?}");
    assert_eq!(calls(&dir, "sbatch"), 1);
}

#[test]
fn scancel_from_outside_is_logged_as_cancelled() {
    if !cluster() {
        return;
    }
    let mut bg = slurm_test()
        .write(
            "e.yaml",
            "Global: {queue: null}\nModule: sh job.sh\nYamlLog: log.yaml\n---\nName: victim\n",
        )
        .write(
            "job.sh",
            "touch \"$COOL_RUNNER_RUN_DIR/../../started\"\nsleep 60\n",
        )
        .args(&["run", "--exp", "e.yaml", "--executor", "slurm"])
        .spawn();
    bg.wait_for(30, "the job to start", |b| {
        b.path().join("started").exists()
    });
    let id = job_ids(bg.path()).pop().unwrap();
    let out = std::process::Command::new("scancel")
        .arg(&id)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(bg.wait(30), 1, "{}", bg.stderr());
    let docs = documents(&bg.path().join("log.yaml"));
    let doc = by_name(&docs, "victim");
    assert_eq!(text(doc, "STATUS"), "failed");
    assert_eq!(text(doc, "ERROR"), "cancelled by the scheduler");
    assert_eq!(text(doc, "SLURM_STATE"), "CANCELLED");
    assert_eq!(text(doc, "SLURM_JOB_ID"), id);
}

/// The Slurm job ids of the run directories under `dir/runs`.
fn job_ids(dir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(dir.join("runs"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| std::fs::read_to_string(e.path().join("slurm-job")).ok())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

#[test]
fn ctrl_c_while_attached_interrupts_the_module_gently() {
    if !cluster() {
        return;
    }
    let job = "trap 'echo \"GOT_INT: 1\" > \"$COOL_RUNNER_RESULTS\"; exit 0' INT\n\
               touch \"$COOL_RUNNER_RUN_DIR/../../started\"\n\
               i=0; while [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\n";
    let mut bg = slurm_test()
        .write(
            "e.yaml",
            "Global: {queue: null}\nModule: sh job.sh\nYamlLog: log.yaml\n---\nName: gentle\n",
        )
        .write("job.sh", job)
        .args(&["run", "--exp", "e.yaml", "--executor", "slurm"])
        .spawn();
    bg.wait_for(30, "the job to start", |b| {
        b.path().join("started").exists()
    });
    bg.signal(nix::sys::signal::Signal::SIGINT);
    assert_eq!(bg.wait(30), 130, "{}", bg.stderr());
    let docs = documents(&bg.path().join("log.yaml"));
    let doc = by_name(&docs, "gentle");
    assert_eq!(text(doc, "STATUS"), "interrupted", "{doc:?}");
    assert_eq!(
        get(doc, "GOT_INT").as_i64(),
        Some(1),
        "the module got SIGINT"
    );
    assert!(calls(bg.path(), "scancel") >= 1);
}

const WAITING: &str = "\
Global: {queue: null}
Module: sh job.sh
YamlLog: log.yaml
---
Name: a
---
Name: b
---
Name: c
";

#[test]
fn detach_status_attach_and_no_resubmission() {
    if !cluster() {
        return;
    }
    let test = slurm_test().write("e.yaml", WAITING).write(
        "job.sh",
        "while [ ! -e go ]; do sleep 0.1; done\necho 'V: 1' > \"$COOL_RUNNER_RESULTS\"\n",
    );
    let dir = test.path().to_owned();
    let env: Vec<(String, String)> = vec![
        ("PATH".into(), shim(&dir)),
        ("COOL_RUNNER_SLURM_POLL".into(), POLL.into()),
    ];
    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new(crate::test::bin());
        cmd.current_dir(&dir).args(args).envs(env.iter().cloned());
        cmd.output().unwrap()
    };
    let detached = run(&["run", "--exp", "e.yaml", "--executor", "slurm", "--detach"]);
    let stderr = String::from_utf8_lossy(&detached.stderr).into_owned();
    assert_eq!(detached.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("cool-runner attach cr-"), "{stderr}");
    assert!(
        documents(&dir.join("log.yaml")).is_empty(),
        "nothing logged yet"
    );
    let status = run(&["status"]);
    let shown = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(
        shown.contains("slurm"),
        "status shows the Slurm jobs:\n{shown}"
    );
    // The same file again: nothing is submitted twice.
    let again = run(&["run", "--exp", "e.yaml", "--executor", "slurm", "--detach"]);
    let stderr = String::from_utf8_lossy(&again.stderr).into_owned();
    assert_eq!(again.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr.matches("not submitting it again").count(),
        3,
        "{stderr}"
    );
    assert_eq!(calls(&dir, "sbatch"), 1);
    std::fs::write(dir.join("go"), "").unwrap();
    let attached = run(&["attach"]);
    let stderr = String::from_utf8_lossy(&attached.stderr).into_owned();
    assert_eq!(attached.status.code(), Some(0), "{stderr}");
    let docs = documents(&dir.join("log.yaml"));
    assert_eq!(docs.len(), 3, "each job logged once: {docs:?}");
    for doc in &docs {
        assert_eq!(text(doc, "STATUS"), "done");
        assert_eq!(get(doc, "V").as_i64(), Some(1));
    }
    // Attaching again logs nothing twice.
    let twice = run(&["attach"]);
    assert_eq!(twice.status.code(), Some(0));
    assert_eq!(documents(&dir.join("log.yaml")).len(), 3);
    let status = run(&["status", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(json["counts"]["done"], 3, "{json}");
    assert_eq!(json["running"].as_array().map(Vec::len), Some(0), "{json}");
}

#[test]
fn jobs_run_the_code_as_it_was_at_submission() {
    if !cluster() {
        return;
    }
    let test = slurm_test()
        .write(
            "e.yaml",
            "Global: {queue: null, slurm: {extra: ['--hold']}}\nModule: sh m/job.sh\n\
             YamlLog: log.yaml\n---\nName: snap\n",
        )
        .write(
            "m/job.sh",
            ". \"$(dirname \"$0\")/lib.sh\"\necho \"V: $V\" > \"$COOL_RUNNER_RESULTS\"\n",
        )
        .write("m/lib.sh", "V=old\n");
    let dir = test.path().to_owned();
    let env = [
        ("PATH".to_owned(), shim(&dir)),
        ("COOL_RUNNER_SLURM_POLL".to_owned(), POLL.to_owned()),
    ];
    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new(crate::test::bin());
        cmd.current_dir(&dir).args(args).envs(env.iter().cloned());
        cmd.output().unwrap()
    };
    let detached = run(&["run", "--exp", "e.yaml", "--executor", "slurm", "--detach"]);
    assert_eq!(detached.status.code(), Some(0), "{detached:?}");
    // Edited while the job is held in the queue.
    std::fs::write(dir.join("m/lib.sh"), "V=new\n").unwrap();
    std::fs::write(
        dir.join("m/job.sh"),
        "echo 'V: edited' > \"$COOL_RUNNER_RESULTS\"\n",
    )
    .unwrap();
    let id = job_ids(&dir).pop().unwrap();
    let array = id.split('_').next().unwrap();
    let released = std::process::Command::new("scontrol")
        .args(["release", array])
        .output()
        .unwrap();
    assert!(released.status.success(), "{released:?}");
    let attached = run(&["attach"]);
    assert_eq!(attached.status.code(), Some(0), "{attached:?}");
    let docs = documents(&dir.join("log.yaml"));
    assert_eq!(text(by_name(&docs, "snap"), "V"), "old");
    assert!(dir.join(".cool-runner/code").is_dir());
}

#[test]
fn bad_slurm_settings_are_bad_input() {
    for (file, message) in [
        (
            "Global: {slurm: {partion: gpu}}\nModule: 'true'\n---\nName: a\n",
            "unknown key `Global.slurm.partion`; did you mean `partition`?",
        ),
        (
            "Global: {slurm: {time: soon}}\nModule: 'true'\n---\nName: a\n",
            "`Global.slurm.time` must be minutes or a Slurm time",
        ),
        (
            "Global: {executor: pbs}\nModule: 'true'\n---\nName: a\n",
            "unknown executor `pbs`",
        ),
        (
            "Global: {}\nModule: 'true'\n---\nName: a\nSlurm: {cpus: 2}\n",
            "unknown key `Slurm.cpus`",
        ),
    ] {
        let ran = Test::new()
            .write("e.yaml", file)
            .args(&["run", "--exp", "e.yaml", "--executor", "slurm", "--dry"])
            .run()
            .status(2);
        assert!(ran.stderr().contains(message), "{file}: {}", ran.stderr());
    }
    let ran = Test::new()
        .write("e.yaml", "Global: {}\nModule: 'true'\n---\nName: a\n")
        .args(&["run", "--exp", "e.yaml", "--detach"])
        .run()
        .status(2);
    assert!(ran.stderr().contains("`--detach` needs the Slurm executor"));
}

#[test]
fn the_time_limit_warning_becomes_the_modules_sigint() {
    if !cluster() {
        return;
    }
    // Slurm sends USR2 to the batch step before the time limit
    // (`--signal=B:USR2@…`); sent here by hand so the test takes seconds.
    let job = "trap 'echo \"SAVED: 1\" > \"$COOL_RUNNER_RESULTS\"; exit 0' INT\n\
               touch \"$COOL_RUNNER_RUN_DIR/../../started\"\n\
               i=0; while [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\n";
    let mut bg = slurm_test()
        .write(
            "e.yaml",
            "Global: {queue: null, slurm: {time: 30}}\nModule: sh job.sh\nYamlLog: log.yaml\n---\nName: long\n",
        )
        .write("job.sh", job)
        .args(&["run", "--exp", "e.yaml", "--executor", "slurm"])
        .spawn();
    bg.wait_for(30, "the job to start", |b| {
        b.path().join("started").exists()
    });
    let id = job_ids(bg.path()).pop().unwrap();
    let out = std::process::Command::new("scancel")
        .args(["--signal=USR2", "--batch", &id])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(bg.wait(30), 1, "{}", bg.stderr());
    let docs = documents(&bg.path().join("log.yaml"));
    let doc = by_name(&docs, "long");
    assert_eq!(text(doc, "STATUS"), "timeout", "{doc:?}");
    assert_eq!(text(doc, "ERROR"), "reached the scheduler's time limit");
    assert_eq!(
        get(doc, "SAVED").as_i64(),
        Some(1),
        "the module could save its state"
    );
    let script = std::fs::read_to_string(bg.path().join("calls.log")).unwrap();
    assert!(script.contains("--signal=B:USR2@300"), "{script}");
    assert!(script.contains("--time=0-00:30:00"), "{script}");
}

#[test]
fn a_job_warned_of_its_time_limit_is_requeued_into_its_run_directory() {
    if !cluster() {
        return;
    }
    let job = "if [ \"$COOL_RUNNER_RESTARTS\" = 0 ]; then\n\
               trap 'echo step5 > \"$COOL_RUNNER_RUN_DIR/checkpoint\"; exit 0' INT\n\
               touch \"$COOL_RUNNER_RUN_DIR/../../started\"\n\
               i=0; while [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\n\
               fi\n\
               echo \"RESTARTS: $COOL_RUNNER_RESTARTS\" > \"$COOL_RUNNER_RESULTS\"\n\
               echo \"RESUMED_FROM: $(cat \"$COOL_RUNNER_RUN_DIR/checkpoint\")\" >> \"$COOL_RUNNER_RESULTS\"\n";
    let mut bg = slurm_test()
        .write(
            "e.yaml",
            "Global: {queue: null, slurm: {time: 30, requeue: 1}}\nModule: sh job.sh\n\
             YamlLog: log.yaml\n---\nName: resumable\n",
        )
        .write("job.sh", job)
        .args(&["run", "--exp", "e.yaml", "--executor", "slurm"])
        .spawn();
    bg.wait_for(30, "the job to start", |b| {
        b.path().join("started").exists()
    });
    let id = job_ids(bg.path()).pop().unwrap();
    let usr2 = std::process::Command::new("scancel")
        .args(["--signal=USR2", "--batch", &id])
        .output()
        .unwrap();
    assert!(usr2.status.success(), "{usr2:?}");
    // Requeued jobs wait (Slurm's BeginTime, about two minutes): start it
    // sooner.
    let show = |id: &str| {
        let shown = std::process::Command::new("scontrol")
            .args(["show", "job", "-o", id])
            .output()
            .unwrap();
        String::from_utf8_lossy(&shown.stdout).into_owned()
    };
    // Started at once, the new run is refused by slurmd ("Job N already
    // killed, do not launch batch job"): wait 5 s, as Slurm's own delay
    // does (for minutes).
    let mut held_since = None;
    bg.wait_for(60, "the requeued job to start again", |_| {
        let shown = show(&id);
        if !shown.contains("Restarts=1") {
            return false;
        }
        if shown.contains("Reason=BeginTime") {
            let since = *held_since.get_or_insert_with(Instant::now);
            if since.elapsed() < std::time::Duration::from_secs(5) {
                return false;
            }
            let _ = std::process::Command::new("scontrol")
                .args(["update", &format!("JobId={id}"), "StartTime=now"])
                .output();
            std::thread::sleep(std::time::Duration::from_millis(300));
            return false;
        }
        // (Right after the requeue it may show as COMPLETING or REQUEUED.)
        shown.contains("JobState=RUNNING") || shown.contains("JobState=COMPLETED")
    });
    let code = bg.wait(60);
    let docs = documents(&bg.path().join("log.yaml"));
    assert_eq!(code, 0, "{}\n{docs:?}", bg.stderr());
    assert_eq!(docs.len(), 1, "logged once: {docs:?}");
    let doc = by_name(&docs, "resumable");
    assert_eq!(text(doc, "STATUS"), "done", "{doc:?}");
    assert_eq!(get(doc, "RESTARTS").as_i64(), Some(1));
    assert_eq!(text(doc, "RESUMED_FROM"), "step5");
    assert!(std::fs::read_to_string(bg.path().join("calls.log"))
        .unwrap()
        .contains("--requeue"));
}
