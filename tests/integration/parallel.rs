//! Parallel slots and GPUs with real processes: what each module sees in
//! `COOL_RUNNER_SLOT` and `CUDA_VISIBLE_DEVICES`, and that no GPU is ever
//! given to two running modules at once.

use crate::test::{read, Test};

/// Appends `name slot gpus start end` (seconds, nanosecond precision) to
/// `spans.txt` after sleeping `nap` seconds.
const SPAN_MODULE: &str = r#"#!/bin/sh
name=$(sed -n 's/^  "Name": "\(.*\)",*$/\1/p' "$COOL_RUNNER_EXPERIMENT" | head -n 1)
start=$(date +%s.%N)
sleep 0.3
end=$(date +%s.%N)
echo "$name $COOL_RUNNER_SLOT ${CUDA_VISIBLE_DEVICES-unset} $start $end" >> spans.txt
echo "line from $name"
"#;

struct Span {
    name: String,
    slot: String,
    gpus: Vec<String>,
    start: f64,
    end: f64,
}

fn parse_spans(text: &str) -> Vec<Span> {
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            Span {
                name: f[0].to_owned(),
                slot: f[1].to_owned(),
                gpus: f[2].split(',').map(str::to_owned).collect(),
                start: f[3].parse().unwrap(),
                end: f[4].parse().unwrap(),
            }
        })
        .collect()
}

fn experiments(n: usize, extra: &str) -> String {
    experiments_with("{}", n, extra)
}

fn experiments_with(global: &str, n: usize, extra: &str) -> String {
    let mut text = format!("Global: {global}\nModule: ./span.sh\nYamlLog: log.yaml\n");
    for i in 0..n {
        text.push_str("---\nName: e");
        text.push_str(&i.to_string());
        text.push('\n');
    }
    text.push_str(extra);
    text
}

#[test]
fn two_slots_two_gpus_never_share_a_gpu() {
    let ran = Test::new()
        .write_exe("span.sh", SPAN_MODULE)
        .write(
            "e.yaml",
            &experiments(6, "---\nName: both\nGPUs: 2\n---\nName: last\n"),
        )
        .args(&[
            "run",
            "--exp",
            "e.yaml",
            "-j",
            "2",
            "--gpus",
            "0,1",
            "--no-store",
        ])
        .run()
        .status(0);
    let spans = parse_spans(&read(&ran.dir.join("spans.txt")));
    assert_eq!(spans.len(), 8);
    let mut overlaps = 0;
    for (i, a) in spans.iter().enumerate() {
        assert!(a.slot == "0" || a.slot == "1", "slot {}", a.slot);
        let want = if a.name == "both" { 2 } else { 1 };
        assert_eq!(a.gpus.len(), want, "{} got {:?}", a.name, a.gpus);
        for b in &spans[i + 1..] {
            if a.start < b.end && b.start < a.end {
                overlaps += 1;
                assert_ne!(a.slot, b.slot, "{} and {} share a slot", a.name, b.name);
                for gpu in &a.gpus {
                    assert!(
                        !b.gpus.contains(gpu),
                        "{} and {} both got GPU {gpu}",
                        a.name,
                        b.name
                    );
                }
            }
        }
    }
    assert!(
        overlaps >= 3,
        "modules ran in parallel ({overlaps} overlaps)"
    );
    // Output lines are prefixed with the experiment's label.
    assert!(
        ran.stdout().contains("[#3 e3] line from e3"),
        "{}",
        ran.stdout()
    );
}

#[test]
fn global_jobs_and_gpus_and_slots_following_gpus() {
    // `Global.gpus` alone: one slot per GPU.
    let ran = Test::new()
        .write_exe("span.sh", SPAN_MODULE)
        .write("e.yaml", &experiments_with("{gpus: [3, 5]}", 4, ""))
        .args(&["run", "--exp", "e.yaml", "--no-store"])
        .run()
        .status(0);
    let spans = parse_spans(&read(&ran.dir.join("spans.txt")));
    let mut gpus: Vec<&str> = spans.iter().map(|s| s.gpus[0].as_str()).collect();
    gpus.sort_unstable();
    gpus.dedup();
    assert_eq!(gpus, ["3", "5"]);
    // One slot: no CUDA_VISIBLE_DEVICES without GPUs, slot 0 throughout.
    let ran = Test::new()
        .write_exe("span.sh", SPAN_MODULE)
        .write("e.yaml", &experiments(2, ""))
        .args(&["run", "--exp", "e.yaml", "--no-store"])
        .run()
        .status(0);
    let spans = parse_spans(&read(&ran.dir.join("spans.txt")));
    assert!(spans.iter().all(|s| s.slot == "0" && s.gpus == ["unset"]));
    assert!(
        ran.stdout().contains("\nline from e1"),
        "no prefix with one slot"
    );
}

#[test]
fn bad_slot_settings_are_bad_input() {
    for (args, yaml, message) in [
        (&["-j", "0"][..], "{}", "`-j` must be at least 1"),
        (&["--gpus", "0,0"][..], "{}", "listed twice"),
        (&[][..], "{jobs: -1}", "`Global.jobs` must be"),
        (&[][..], "{gpus: {a: 1}}", "`Global.gpus` must be"),
        (
            &["--gpus", "ids:0"][..],
            "{}\nGPUs: 2",
            "asks for more GPUs than the run has (1)",
        ),
        (
            &[][..],
            "{}\nGPUs: many",
            "`GPUs` must be a non-negative integer",
        ),
        (
            &[][..],
            "{}\nFingerprint: 3",
            "`Fingerprint` must be a glob",
        ),
        (
            &[][..],
            "{}\nFingerprint: ['a[']",
            "invalid `Fingerprint` glob `a[`",
        ),
    ] {
        let mut all = vec!["run", "--exp", "e.yaml"];
        all.extend_from_slice(args);
        let ran = Test::new()
            .write_exe("span.sh", SPAN_MODULE)
            .write("e.yaml", &experiments_with(yaml, 1, ""))
            .args(&all)
            .run()
            .status(2);
        assert!(ran.stderr().contains(message), "{}", ran.stderr());
        assert!(!ran.dir.join("spans.txt").exists());
    }
}

#[test]
fn one_ctrl_c_interrupts_every_running_module() {
    use crate::test::{column, documents, NAP_MODULE};
    let mut bg = Test::new()
        .write_exe("m.sh", NAP_MODULE)
        .write(
            "e.yaml",
            "Global: {}\nModule: ./m.sh\nYamlLog: log.yaml\n---\nName: a\nnap: 30\n\
             ---\nName: b\nnap: 30\n---\nName: c\n",
        )
        .args(&["run", "--exp", "e.yaml", "-j", "2", "--no-store"])
        .spawn();
    bg.wait_for(20, "both modules to start", |bg| {
        read(&bg.path().join("order.txt")).lines().count() == 2
    });
    bg.signal(nix::sys::signal::Signal::SIGINT);
    assert_eq!(bg.wait(20), 130);
    let log = documents(&bg.path().join("log.yaml"));
    let mut first: Vec<String> = column(&log[..2], "Name");
    first.sort();
    assert_eq!(first, ["a", "b"]);
    assert_eq!(
        column(&log, "STATUS"),
        ["interrupted", "interrupted", "done"]
    );
    assert!(
        bg.stderr().contains("sent SIGINT to `a`, `b`"),
        "{}",
        bg.stderr()
    );
}
