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
    let text = String::from_utf8_lossy(&bytes);
    assert_eq!(code, 0, "{text}");
    let first_done = text.find("done").expect("a done line");
    assert!(!text[..first_done].contains("ETA"), "{text}");
}
