//! The queue file, edited for real while the runner works.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::test::{column, documents, read, Bg, Test, NAP_MODULE};

/// A runner on `experiments` with the queue file `q.yaml`.
fn start(experiments: &str, extra: &[&str]) -> Bg {
    let mut args = vec!["run", "--exp", "e.yaml"];
    args.extend_from_slice(extra);
    Test::new()
        .write_exe("m.sh", NAP_MODULE)
        .write(
            "e.yaml",
            &format!("Global: {{queue: q.yaml}}\nModule: ./m.sh\nYamlLog: log.yaml\nnap: 0\n{experiments}"),
        )
        .args(&args)
        .spawn()
}

fn order(bg: &Bg) -> String {
    read(&bg.path().join("order.txt"))
}

fn started(bg: &Bg, name: &str) {
    let line = format!("{name}\n");
    bg.wait_for(5, &format!("`{name}` to start"), |b| {
        order(b).contains(&line)
    });
}

fn reported(bg: &Bg, text: &str) {
    bg.wait_for(5, &format!("the report `{text}`"), |b| {
        b.stderr().contains(text)
    });
}

fn append(path: &Path, text: &str) {
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

/// The queue's documents without the one named `name`, as YAML text.
fn without(path: &Path, names: &[&str]) -> String {
    let docs = documents(path);
    let mut out = String::new();
    for name in names {
        let doc = docs
            .iter()
            .find(|d| d["Name"].as_str() == Some(name))
            .unwrap();
        out.push_str("---\n");
        out.push_str(&yaml_serde::to_string(doc).unwrap());
    }
    out
}

#[test]
fn appended_experiments_run_and_are_reported_at_once() {
    let mut bg = start("---\nName: a\nnap: 1\n---\nName: b\n", &[]);
    let queue = bg.path().join("q.yaml");
    started(&bg, "a");
    append(&queue, "---\nName: c\n");
    reported(&bg, "queue: 2 pending (+1 added)");
    assert_eq!(order(&bg), "a\n", "reported while `a` still runs");
    assert_eq!(bg.wait(10), 0);
    assert_eq!(order(&bg), "a\nb\nc\n");
    assert_eq!(
        column(&documents(&bg.path().join("log.yaml")), "Name"),
        ["a", "b", "c"]
    );
    assert!(!queue.exists(), "an empty queue file is removed");
}

#[test]
fn removed_experiments_do_not_run() {
    let mut bg = start("---\nName: a\nnap: 0.8\n---\nName: b\n---\nName: c\n", &[]);
    let queue = bg.path().join("q.yaml");
    started(&bg, "a");
    std::fs::write(&queue, without(&queue, &["c"])).unwrap();
    reported(&bg, "queue: 1 pending (-1 removed)");
    assert_eq!(bg.wait(10), 0);
    assert_eq!(order(&bg), "a\nc\n");
}

#[test]
fn reordering_with_a_rename_save_is_followed() {
    let mut bg = start("---\nName: a\nnap: 0.8\n---\nName: b\n---\nName: c\n", &[]);
    let queue = bg.path().join("q.yaml");
    started(&bg, "a");
    // As vim or an IDE saves: a new file renamed over the old one.
    let tmp = bg.path().join(".q.yaml.swp");
    std::fs::write(&tmp, without(&queue, &["c", "b"])).unwrap();
    std::fs::rename(&tmp, &queue).unwrap();
    reported(&bg, "queue: 2 pending (reordered)");
    assert_eq!(bg.wait(10), 0);
    assert_eq!(order(&bg), "a\nc\nb\n");
}

#[test]
fn sed_in_place_edits_are_followed() {
    let mut bg = start("---\nName: a\nnap: 0.8\n---\nName: b\n---\nName: c\n", &[]);
    let queue = bg.path().join("q.yaml");
    started(&bg, "a");
    // Edit once the runner has cut `a` out of the file (the race with that
    // rewrite is `a_read_then_rename_edit_that_straddles_a_take_is_followed_once`).
    bg.wait_for(5, "`a` to leave the queue file", |b| {
        !read(&b.path().join("q.yaml")).contains("Name: a\n")
    });
    let status = std::process::Command::new("sed")
        .args(["-i", "s/^Name: b$/Name: b2/"])
        .arg(&queue)
        .status()
        .unwrap();
    assert!(status.success());
    reported(&bg, "queue: 2 pending (1 changed)");
    // A second edit through the same directory watch still works.
    append(&queue, "---\nName: d\n");
    reported(&bg, "queue: 3 pending (+1 added)");
    assert_eq!(bg.wait(10), 0);
    assert_eq!(order(&bg), "a\nb2\nc\nd\n");
}

/// The race a `sed -i` can lose: it reads the file while `a` is still in
/// it, the runner takes `a` and rewrites the file without it, then the
/// edit (which still holds `a`) is renamed over. The edit is followed and
/// `a` is not run a second time.
#[test]
fn a_read_then_rename_edit_that_straddles_a_take_is_followed_once() {
    let mut bg = start(
        "---\nName: w\nnap: 0.8\n---\nName: a\nnap: 0.8\n---\nName: b\n---\nName: c\n",
        &[],
    );
    let queue = bg.path().join("q.yaml");
    started(&bg, "w");
    // What `sed` read: `a` still pending.
    bg.wait_for(5, "the file to hold `a`", |b| {
        read(&b.path().join("q.yaml")).contains("Name: a\n")
    });
    let before = read(&queue);
    started(&bg, "a");
    bg.wait_for(5, "`a` to leave the queue file", |b| {
        !read(&b.path().join("q.yaml")).contains("Name: a\n")
    });
    // What `sed` renames over it: its edit of the version it read.
    let tmp = bg.path().join("q.yaml.sedXYZ");
    std::fs::write(&tmp, before.replace("Name: b\n", "Name: b2\n")).unwrap();
    std::fs::rename(&tmp, &queue).unwrap();
    reported(&bg, "queue: 2 pending (1 changed)");
    assert_eq!(bg.wait(10), 0);
    assert_eq!(order(&bg), "w\na\nb2\nc\n");
}

#[test]
fn invalid_edits_are_reported_kept_and_waited_out() {
    let mut bg = start("---\nName: a\nnap: 0.5\n---\nName: b\n", &[]);
    let queue = bg.path().join("q.yaml");
    started(&bg, "a");
    let bad = "# half-way through an edit\n---\nName: b\nnap: [1, 2\n---\nName: c\n";
    std::fs::write(&queue, bad).unwrap();
    reported(&bg, "queue: invalid edit of `q.yaml`: line 5, column");
    reported(&bg, "waiting for a valid version");
    // `a` ends; the runner waits and leaves the person's text alone.
    bg.wait_for(5, "`a` to be logged", |b| {
        read(&b.path().join("log.yaml")).contains("Name: a")
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(read(&queue), bad);
    assert_eq!(order(&bg), "a\n");
    assert_eq!(
        bg.stderr().matches("invalid edit").count(),
        1,
        "reported once"
    );
    std::fs::write(&queue, "# fixed\n---\nName: b\nnap: [1, 2]\n---\nName: c\n").unwrap();
    assert_eq!(bg.wait(10), 0);
    assert_eq!(order(&bg), "a\nb\nc\n");
}

#[test]
fn added_parse_values_see_the_history_when_taken() {
    let mut bg = start("---\nName: a\nnap: 0.6\nlr: 0.5\n", &[]);
    let queue = bg.path().join("q.yaml");
    started(&bg, "a");
    append(
        &queue,
        "---\nName: added\nlr: parse E[-1].lr * 2\nfrom: parse E[-1].Name\n",
    );
    assert_eq!(bg.wait(10), 0);
    let log = documents(&bg.path().join("log.yaml"));
    assert_eq!(column(&log, "Name"), ["a", "added"]);
    assert_eq!(log[1]["lr"].as_f64(), Some(1.0));
    assert_eq!(log[1]["from"].as_str(), Some("a"));
    assert_eq!(
        log[1]["Module"].as_str(),
        Some("./m.sh"),
        "defaults are merged"
    );
    assert_eq!(log[1]["REP"].as_i64(), Some(0));
}

#[test]
fn deleting_the_queue_file_cancels_what_is_pending() {
    let mut bg = start("---\nName: a\nnap: 0.6\n---\nName: b\n", &[]);
    let queue = bg.path().join("q.yaml");
    started(&bg, "a");
    std::fs::remove_file(&queue).unwrap();
    reported(&bg, "was deleted: no experiment is pending any more");
    assert_eq!(bg.wait(10), 0);
    assert_eq!(order(&bg), "a\n");
    assert!(!queue.exists(), "not recreated");
    assert_eq!(
        column(&documents(&bg.path().join("log.yaml")), "STATUS"),
        ["done"]
    );
}

#[test]
fn follow_waits_for_new_experiments() {
    let mut bg = start("---\nName: a\n", &["--follow"]);
    let queue = bg.path().join("q.yaml");
    reported(&bg, "waiting for new experiments");
    assert!(queue.exists(), "kept with --follow");
    append(&queue, "---\nName: late\n");
    started(&bg, "late");
    bg.wait_for(5, "`late` to be logged", |b| {
        read(&b.path().join("log.yaml")).contains("Name: late")
    });
    bg.signal(Signal::SIGINT);
    assert_eq!(bg.wait(10), 130);
    assert_eq!(order(&bg), "a\nlate\n");
}

#[test]
fn an_existing_queue_file_is_resumed() {
    let mut bg = Test::new()
        .write_exe("m.sh", NAP_MODULE)
        .write(
            "e.yaml",
            "Global: {queue: q.yaml}\nModule: ./m.sh\n---\nName: fresh\n",
        )
        .write("q.yaml", "# left by a crash\n---\nName: old\n")
        .args(&["run", "--exp", "e.yaml"])
        .spawn();
    assert_eq!(bg.wait(10), 0);
    assert_eq!(order(&bg), "old\n");
    assert!(
        bg.stderr().contains("resuming 1 pending experiment(s)"),
        "{}",
        bg.stderr()
    );
    let mut bg = Test::new()
        .write(
            "e.yaml",
            "Global: {queue: q.yaml}\nModule: ./m.sh\n---\nName: fresh\n",
        )
        .write("q.yaml", "Name: [\n")
        .args(&["run", "--exp", "e.yaml"])
        .spawn();
    assert_eq!(bg.wait(10), 2);
    assert!(
        bg.stderr()
            .contains("error: the queue file `q.yaml` is not valid"),
        "{}",
        bg.stderr()
    );
}

/// Where a run is after a kill.
enum AfterKill {
    /// Nothing ran yet.
    NotStarted,
    Going,
    /// Every experiment ran and the queue file is gone.
    Done,
}

/// After kill number `kills`: every experiment either started or is still
/// in the queue file, and the log holds only whole documents.
fn check_after_kill(dir: &std::path::Path, names: &[String], kills: usize) -> AfterKill {
    let ran = read(&dir.join("order.txt"));
    let ran: Vec<&str> = ran.lines().collect();
    if !dir.join("q.yaml").exists() {
        // Killed before the queue file was written (it appears whole,
        // by rename), or after the last experiment.
        assert!(
            ran.is_empty() || ran.len() >= names.len(),
            "after kill {kills}: queue file lost"
        );
        if ran.is_empty() {
            return AfterKill::NotStarted;
        }
    }
    let queued = column(&documents(&dir.join("q.yaml")), "Name");
    // An experiment taken just before the kill may be in neither: its
    // module was ended with the runner before it wrote its name, and the
    // file was already rewritten without it. The journal's take record
    // holds it, and the next runner puts it back at the head.
    let journal = read(&dir.join(".q.yaml.journal"));
    for name in names {
        assert!(
            ran.contains(&name.as_str())
                || queued.contains(name)
                || journal.contains(&format!("Name: {name}\n")),
            "after kill {kills}: `{name}` neither started nor queued nor in the journal"
        );
    }
    for doc in documents(&dir.join("log.yaml")) {
        assert!(
            doc["STATUS"].as_str().is_some(),
            "a whole document: {doc:?}"
        );
    }
    if !dir.join("q.yaml").exists() && ran.len() >= names.len() {
        AfterKill::Done
    } else {
        AfterKill::Going
    }
}

/// SPEC §4: "a crash at any moment loses none". SIGKILL the runner at many
/// random moments of a queue of fast (10 ms) experiments, resuming each
/// time (so some takes are still unwritten, see group commit), and
/// check after every kill that each experiment not yet started is still in
/// the queue file and that the log holds only whole documents.
#[test]
fn sigkill_at_random_moments_loses_nothing() {
    const N: usize = 40;
    let names: Vec<String> = (0..N).map(|i| format!("e{i:02}")).collect();
    let experiments = names.iter().fold(String::new(), |mut text, name| {
        text.push_str("---\nName: ");
        text.push_str(name);
        text.push('\n');
        text
    });
    let test = Test::new()
        .write_exe("m.sh", NAP_MODULE)
        .write(
            "e.yaml",
            &format!("Global: {{queue: q.yaml}}\nModule: ./m.sh\nYamlLog: log.yaml\nnap: 0.01\n{experiments}"),
        )
        .args(&["run", "--exp", "e.yaml"]);
    let dir = test.path().to_owned();
    let command = test.command();
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D
        ^ u64::from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos(),
        );
    let mut kills = 0;
    let mut finished = false;
    for _ in 0..60 {
        let mut command = std::process::Command::new(command.get_program());
        command
            .args(["run", "--exp", "e.yaml"])
            .current_dir(&dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut child = command.spawn().unwrap();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_micros(seed % 80_000));
        if child.try_wait().unwrap().is_some() {
            finished = true;
            break;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
        // Modules started just before the kill are ended with the runner.
        std::thread::sleep(Duration::from_millis(60));
        match check_after_kill(&dir, &names, kills) {
            AfterKill::Done => {
                finished = true;
                break;
            }
            AfterKill::NotStarted | AfterKill::Going => {}
        }
    }
    eprintln!("crash test: {kills} kills");
    assert!(kills >= 5, "only {kills} kills");
    if !finished {
        let status = std::process::Command::new(command.get_program())
            .args(["run", "--exp", "e.yaml"])
            .current_dir(&dir)
            .stderr(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    }
    let ran = read(&dir.join("order.txt"));
    for name in &names {
        assert!(ran.lines().any(|l| l == name), "`{name}` never ran");
    }
}

/// A person's document is expanded when taken even if it writes a runner
/// key: `REP: 5` once made the runner take it for an expanded experiment
/// (no `Repeat` copies, no `RND_IDX` or `HOST`).
#[test]
fn an_added_document_that_writes_rep_is_still_expanded() {
    let mut bg = start("lr: 0.1\n---\nName: a\nnap: 0.6\n---\nName: b\n", &[]);
    let queue = bg.path().join("q.yaml");
    started(&bg, "a");
    assert!(
        read(&queue).contains("--- # expanded by cool-runner\nName: b\n"),
        "the runner marks what it expanded: {}",
        read(&queue)
    );
    append(&queue, "---\nName: mine\nREP: 5\nRepeat: 2\n");
    assert_eq!(bg.wait(10), 0);
    let log = documents(&bg.path().join("log.yaml"));
    assert_eq!(column(&log, "Name"), ["a", "b", "mine", "mine"]);
    let reps: Vec<_> = log[2..].iter().map(|d| d["REP"].as_i64()).collect();
    assert_eq!(reps, [Some(0), Some(1)]);
    for doc in &log[2..] {
        assert_eq!(doc["lr"].as_f64(), Some(0.1), "defaults are merged");
        assert_eq!(doc["Module"].as_str(), Some("./m.sh"));
        assert!(doc["HOST"].as_str().is_some());
        assert!(doc["RND_IDX"].as_i64().is_some());
    }
    assert_eq!(log[2]["RND_IDX"], log[3]["RND_IDX"]);
}
