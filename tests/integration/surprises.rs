//! Issue 12, "silent surprises" on the command line and in the file: each
//! test reproduces what a new user met (a mistyped option that ran the
//! sweep, a misspelt key or a shadowed override that changed nothing,
//! `--dry` accepting what `run` refuses, ambiguous `--gpus`).

use crate::test::{Ran, Test};

/// A module that records that it ran (`ran.txt`) and its arguments.
const ECHO_MODULE: &str = "#!/bin/sh\necho \"$*\" >> ran.txt\n";

fn sweep(args: &[&str]) -> Ran {
    Test::new()
        .write_exe("m.sh", ECHO_MODULE)
        .write(
            "e.yaml",
            "Global: {}\nModule: ./m.sh\nlr: 0.1\n---\nName: a\n---\nName: b\n",
        )
        .args(args)
        .run()
}

#[test]
fn a_mistyped_option_is_an_error_not_a_run() {
    for (arg, meant) in [
        ("--dry-run", "--dry"),
        ("--gpu", "--gpus"),
        ("--fail_fast", "--fail-fast"),
    ] {
        let ran = sweep(&["run", "--exp", "e.yaml", "--no-store", arg, "0"]).status(2);
        assert!(
            ran.stderr().contains(&format!("did you mean `{meant}`?")),
            "{arg}: {}",
            ran.stderr()
        );
        assert!(!ran.dir.join("ran.txt").exists(), "{arg}: nothing may run");
        assert!(!ran.dir.join("runs").exists(), "{arg}: nothing may run");
    }
}

#[test]
fn a_bare_key_value_hints_at_the_override() {
    let ran = sweep(&["run", "--exp", "e.yaml", "--no-store", "lr=0.5"]).status(2);
    assert!(ran.stderr().contains("`+lr=0.5`"), "{}", ran.stderr());
    assert!(!ran.dir.join("ran.txt").exists());
}

#[test]
fn after_double_dash_everything_goes_to_the_module() {
    let ran = sweep(&[
        "run",
        "--exp",
        "e.yaml",
        "--no-store",
        "--lr",
        "2",
        "--",
        "--dry-run",
        "lr=0.5",
    ])
    .status(0);
    let args = std::fs::read_to_string(ran.dir.join("ran.txt")).unwrap();
    assert_eq!(args, "--lr 2 --dry-run lr=0.5\n--lr 2 --dry-run lr=0.5\n");
}

fn dry_and_run(experiment: &str) -> (Ran, Ran) {
    let file = format!("Global: {{grace: 1s}}\nModule: ./m.sh\n---\nName: x\n{experiment}\n");
    let run = |dry: bool| {
        let mut args = vec!["run", "--exp", "e.yaml", "--no-store"];
        if dry {
            args.push("--dry");
        }
        Test::new()
            .write_exe("m.sh", ECHO_MODULE)
            .write("e.yaml", &file)
            .args(&args)
            .run()
    };
    (run(true), run(false))
}

#[test]
fn dry_refuses_what_run_refuses() {
    for (experiment, message) in [
        ("GPUs: 3", "asks for more GPUs than the run has"),
        ("Module: null", "no `Module` to run"),
        (
            "Timeout: soon",
            "`Timeout` must be a positive number of seconds or a duration",
        ),
    ] {
        let (dry, run) = dry_and_run(experiment);
        let (dry, run) = (dry.status(2), run.status(2));
        for ran in [&dry, &run] {
            assert!(
                ran.stderr().contains(message),
                "{experiment}: {}",
                ran.stderr()
            );
        }
        assert!(
            dry.stdout().is_empty(),
            "{experiment}: no expansion on stdout"
        );
        assert!(!run.dir.join("ran.txt").exists());
    }
}

#[test]
fn durations_take_units() {
    for timeout in ["2h", "90s", "1:30:00", "1h30m", "5400"] {
        let (dry, run) = dry_and_run(&format!("Timeout: {timeout}"));
        dry.status(0);
        run.status(0);
    }
    // A timeout with units is carried out.
    let ran = Test::new()
        .write_exe("slow.sh", "#!/bin/sh\nsleep 5\n")
        .write(
            "e.yaml",
            "Global: {grace: 500ms}\nModule: ./slow.sh\nYamlLog: log.yaml\n---\nTimeout: 300ms\n",
        )
        .args(&["run", "--exp", "e.yaml", "--no-store"])
        .run()
        .status(1);
    let log = crate::test::documents(&ran.dir.join("log.yaml"));
    assert_eq!(crate::test::column(&log, "STATUS"), ["timeout"]);
}

#[test]
fn a_misspelt_runner_key_is_warned_about_once() {
    let file = "Global: {}\nModule: ./m.sh\n---\nName: a\nReapeat: 3\nTimout: 5\n---\nName: b\nReapeat: 3\n";
    for dry in [true, false] {
        let mut args = vec!["run", "--exp", "e.yaml", "--no-store"];
        if dry {
            args.push("--dry");
        }
        let ran = Test::new()
            .write_exe("m.sh", ECHO_MODULE)
            .write("e.yaml", file)
            .args(&args)
            .run()
            .status(0);
        let stderr = ran.stderr();
        let warnings: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("warning:"))
            .collect();
        assert_eq!(
            warnings.len(),
            2,
            "one warning per key, not per experiment:\n{stderr}"
        );
        assert!(
            warnings[0].contains("`Reapeat`") && warnings[0].contains("did you mean `Repeat`?")
        );
        assert!(warnings[0].contains("and 1 more"), "{stderr}");
        assert!(
            warnings[1].contains("`Timout`") && warnings[1].contains("did you mean `Timeout`?")
        );
    }
}

#[test]
fn an_override_shadowed_everywhere_is_reported_and_plus_plus_sets_it() {
    let file = "Global: {}\nModule: ./m.sh\nlr: 0.1\n---\nlr: 0.2\nRepeat: 2\n---\nlr: 0.3\n";
    let dry = |arg: &str| {
        Test::new()
            .write_exe("m.sh", ECHO_MODULE)
            .write("e.yaml", file)
            .args(&["run", "--exp", "e.yaml", "--no-store", "--dry", arg])
            .run()
            .status(0)
    };
    let ran = dry("+lr=0.5");
    assert!(
        ran.stderr()
            .contains("`+lr=0.5` is overridden by all 3 experiments"),
        "{}",
        ran.stderr()
    );
    assert!(ran
        .stderr()
        .contains("`++lr=0.5` sets it in every experiment"));
    assert_eq!(
        crate::test::column(&ran.documents(), "lr"),
        ["0.2", "0.2", "0.3"]
    );
    let ran = dry("++lr=0.5");
    assert!(!ran.stderr().contains("overridden"), "{}", ran.stderr());
    assert_eq!(crate::test::column(&ran.documents(), "lr"), ["0.5"; 3]);
    // An override that some experiments leave alone is not reported.
    let ran = dry("+x=1");
    assert!(!ran.stderr().contains("overridden"), "{}", ran.stderr());
}

/// A module that records its slot's `CUDA_VISIBLE_DEVICES`.
const CUDA_MODULE: &str = "#!/bin/sh\necho \"[$CUDA_VISIBLE_DEVICES]\" >> ran.txt\nsleep 0.3\n";

fn gpus(args: &[&str]) -> Ran {
    let mut all = vec!["run", "--exp", "e.yaml", "--no-store"];
    all.extend(args);
    Test::new()
        .write_exe("m.sh", CUDA_MODULE)
        .write_exe("bin/nvidia-smi", "#!/bin/sh\nexit 9\n")
        .write(
            "e.yaml",
            "Global: {}\nModule: ./m.sh\n---\nName: a\n---\nName: b\n",
        )
        .env(
            "PATH",
            &format!("bin:{}", std::env::var("PATH").unwrap_or_default()),
        )
        .args(&all)
        .run()
}

#[test]
fn gpus_forms_are_unambiguous_and_silent_cases_warn() {
    let ran = gpus(&["--gpus", "2"]).status(2);
    assert!(
        ran.stderr().contains("`ids:2`") && ran.stderr().contains("`count:2`"),
        "{}",
        ran.stderr()
    );
    assert!(!ran.dir.join("ran.txt").exists());
    let ran = gpus(&["--gpus", "count:2"]).status(0);
    let mut seen: Vec<String> = crate::test::read(&ran.dir.join("ran.txt"))
        .lines()
        .map(str::to_owned)
        .collect();
    seen.sort();
    assert_eq!(seen, ["[0]", "[1]"]);
    let ran = gpus(&["--gpus", "ids:3"]).status(0);
    assert_eq!(crate::test::read(&ran.dir.join("ran.txt")), "[3]\n[3]\n");
    let ran = gpus(&["-j", "2", "--gpus", "0", "--dry"]).status(2);
    assert!(ran.stderr().contains("ambiguous"), "{}", ran.stderr());
    let ran = gpus(&["-j", "2", "--gpus", "ids:0"]).status(0);
    assert!(
        ran.stderr().contains("warning: 2 slots but 1 GPU(s)"),
        "{}",
        ran.stderr()
    );
    let ran = gpus(&["--gpus", "auto"]).status(0);
    assert!(
        ran.stderr()
            .contains("warning: `--gpus` auto: `nvidia-smi -L` lists no GPU"),
        "{}",
        ran.stderr()
    );
}
