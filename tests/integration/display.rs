//! Issue 12, "the terminal": module output that redraws a line with `\r`
//! (tqdm), the progress counters with several slots, the stop and resume
//! messages, the ETA, and colour. Terminal lines are snapshots (stderr with
//! pids, times and paths redacted); the live display runs in a pty.

use crate::screen::{in_pty, replay};
use crate::test::{read, Test};

/// A Python module that draws a progress bar with `\r` on stderr, as tqdm
/// does, then prints one line on stdout.
const BAR_MODULE: &str = r#"import sys, time
for i in range(21):
    sys.stderr.write(f"\rprogress {i * 5}%")
    sys.stderr.flush()
    time.sleep(0.03)
sys.stderr.write("\n")
print("finished", flush=True)
"#;

fn bar_test() -> Test {
    Test::new().write("bar.py", BAR_MODULE).write(
        "e.yaml",
        "Global: {}\nModule: python3 bar.py\n---\nName: a\n---\nName: b\n",
    )
}

/// Screen rows that show the module's bar.
fn bar_rows(screen: &[String]) -> Vec<&str> {
    screen
        .iter()
        .filter(|r| r.contains("progress"))
        .map(String::as_str)
        .collect()
}

#[test]
fn a_carriage_return_bar_is_one_line_per_module_in_a_terminal() {
    for (jobs, want) in [
        ("2", ["[#0 a] progress 100%", "[#1 b] progress 100%"]),
        ("1", ["progress 100%", "progress 100%"]),
    ] {
        let test = bar_test();
        let (bytes, code) = in_pty(
            test.path(),
            &["run", "--exp", "e.yaml", "--no-store", "-j", jobs],
            100,
        );
        let screen = replay(&bytes, 100);
        assert_eq!(code, 0, "{screen:#?}");
        let mut rows = bar_rows(&screen);
        rows.sort_unstable();
        assert_eq!(
            rows, want,
            "-j {jobs}: only each bar's final state stays, on a line of its own:\n{screen:#?}"
        );
        assert!(
            !screen.iter().any(|r| r.contains("elapsed")),
            "the live line is gone at the end:\n{screen:#?}"
        );
        // The run directory keeps the output as written.
        let logs: Vec<String> = glob::glob(&format!("{}/runs/*/stderr.log", test.path().display()))
            .unwrap()
            .map(|p| read(&p.unwrap()))
            .collect();
        assert_eq!(logs.len(), 2);
        assert!(
            logs.iter().all(|l| l.matches('\r').count() == 21),
            "{logs:?}"
        );
    }
}

#[test]
fn a_carriage_return_bar_is_its_final_line_when_piped() {
    let ran = bar_test()
        .args(&["run", "--exp", "e.yaml", "--no-store", "-j", "2"])
        .run()
        .status(0);
    let stderr = ran.stderr();
    let mut rows: Vec<&str> = stderr.lines().filter(|l| l.contains("progress")).collect();
    rows.sort_unstable();
    assert_eq!(
        rows,
        ["[#0 a] progress 100%", "[#1 b] progress 100%"],
        "{stderr:?}"
    );
    assert!(!stderr.contains('\r'), "{stderr:?}");
}

#[test]
fn the_eta_waits_for_a_finished_experiment() {
    let test = bar_test();
    let (bytes, code) = in_pty(
        test.path(),
        &["run", "--exp", "e.yaml", "--no-store", "-j", "1"],
        100,
    );
    let shown = String::from_utf8_lossy(&bytes);
    assert_eq!(code, 0, "{shown}");
    let first_done = shown.find("done").expect("a done line");
    assert!(!shown[..first_done].contains("ETA"), "{shown}");
}

/// Snapshot stderr with pids, run directories and durations redacted.
macro_rules! assert_stderr_snapshot {
    ($name:expr, $stderr:expr) => {
        insta::with_settings!({filters => vec![
            (r"pid \d+", "pid [PID]"),
            (r"runs/\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d-", "runs/[STAMP]-"),
            (r"\d+\.\d s\b", "[SECONDS]"),
        ]}, {
            insta::assert_snapshot!($name, $stderr);
        });
    };
}

/// A shell module that sleeps `nap` seconds (a key of the experiment).
const NAP: &str = "#!/bin/sh\nnap=$(sed -n 's/^  \"nap\": \\([0-9.]*\\).*/\\1/p' \"$COOL_RUNNER_EXPERIMENT\")\nsleep \"${nap:-0}\"\n";

#[test]
fn counters_labels_and_slots_with_two_slots() {
    // Two repeats of one `Name`, an unnamed experiment, a skipped one.
    // Naps order the lines: #0 ends first, #2 starts in its slot and ends
    // before #1.
    let ran = Test::new()
        .write_exe("nap.sh", NAP)
        .write(
            "e.yaml",
            "Global: {}\nModule: ./nap.sh\n---\nName: lr0.1\nRepeat: 2\nnap: parse [0.2, 2.5][REP]\n\
             ---\nnap: 0.4\n---\nName: skip\n",
        )
        .args(&["run", "--exp", "e.yaml", "--no-store", "-j", "2"])
        .run()
        .status(0);
    assert_stderr_snapshot!("counters_two_slots", ran.stderr());
}

#[test]
fn stop_messages_say_what_happens_to_pending_experiments() {
    // In memory: nothing is kept.
    let mut bg = Test::new()
        .write_exe("nap.sh", NAP)
        .write(
            "e.yaml",
            "Global: {grace: 5s}\nModule: ./nap.sh\nnap: 30\n---\nName: a\n---\nName: b\n",
        )
        .args(&["run", "--exp", "e.yaml", "--no-store"])
        .spawn();
    bg.wait_for(20, "the start line", |bg| {
        bg.stderr().contains("start #0 a")
    });
    bg.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(bg.wait(20), 130);
    assert_stderr_snapshot!("stop_in_memory", bg.stderr());
}

#[test]
fn a_resumed_run_names_the_queue_file() {
    let ran = Test::new()
        .write_exe("nap.sh", NAP)
        .write(
            "e.yaml",
            "Global: {queue: q.yaml}\nModule: ./nap.sh\n---\nName: a\n---\nName: b\n---\nName: c\n",
        )
        .write(
            "q.yaml",
            "Name: b\nModule: ./nap.sh\n---\nName: c\nModule: ./nap.sh\n",
        )
        .args(&["run", "--exp", "e.yaml", "--no-store"])
        .run()
        .status(0);
    assert_stderr_snapshot!("resumed", ran.stderr());
}

#[test]
fn statuses_are_coloured_on_request_only() {
    let run = |args: &[&str], no_color: bool| {
        let mut all = vec!["run", "--exp", "e.yaml", "--no-store"];
        all.extend(args);
        let mut test = Test::new()
            .write_exe("nap.sh", NAP)
            .write("e.yaml", "Global: {}\nModule: ./nap.sh\n---\nName: a\n")
            .args(&all);
        if no_color {
            test = test.env("NO_COLOR", "1");
        }
        test.run().status(0).stderr()
    };
    let green_done = "\u{1b}[1m\u{1b}[32mdone\u{1b}[0m";
    assert!(run(&["--color", "always"], true).contains(green_done));
    assert!(!run(&[], false).contains('\u{1b}'), "piped: no colour");
    assert!(!run(&["--color", "never"], false).contains('\u{1b}'));
    // On a terminal: colour, unless NO_COLOR.
    let test = Test::new()
        .write_exe("nap.sh", NAP)
        .write("e.yaml", "Global: {}\nModule: ./nap.sh\n---\nName: a\n");
    let (bytes, _) = in_pty(test.path(), &["run", "--exp", "e.yaml", "--no-store"], 100);
    assert!(String::from_utf8_lossy(&bytes).contains(green_done));
    let (bytes, _) = in_pty(
        test.path(),
        &["run", "--exp", "e.yaml", "--no-store", "--color", "never"],
        100,
    );
    assert!(!String::from_utf8_lossy(&bytes).contains(green_done));
}
