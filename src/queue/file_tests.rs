use yaml_serde::Value;

use super::*;
use crate::queue::entry::EXPANDED_LINE;
use crate::yaml::read::parse_documents;

fn doc(text: &str) -> Mapping {
    yaml_serde::from_str(text).unwrap()
}

/// An experiment the runner wrote.
fn exp(text: &str) -> QueueEntry {
    QueueEntry::Expanded(doc(text))
}

/// An experiment a person wrote.
fn raw(text: &str) -> QueueEntry {
    QueueEntry::Raw(doc(text))
}

fn open(path: &Path, docs: &[Mapping]) -> FileQueue {
    FileQueue::open(path, "src", docs).unwrap().0
}

/// Take the head as started, finish it, and make it durable.
fn take(queue: &mut FileQueue) -> Option<QueueEntry> {
    match queue.peek() {
        Peek::Next(m) => {
            let ticket = queue.commit(&[], Some(launch(&m))).unwrap().unwrap();
            queue.finished(ticket).unwrap();
            queue.flush().unwrap();
            Some(m)
        }
        _ => None,
    }
}

fn documents_in(path: &Path) -> Vec<Value> {
    parse_documents(&std::fs::read_to_string(path).unwrap(), path)
        .unwrap()
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

#[test]
fn take_in_order_and_remove_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.yaml");
    let mut queue = open(&path, &[doc("a: 1"), doc("a: 2")]);
    assert_eq!(take(&mut queue), Some(exp("a: 1")));
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text, format!("{HEADER}{EXPANDED_LINE}a: 2\n"));
    assert_eq!(take(&mut queue), Some(exp("a: 2")));
    assert_eq!(queue.peek(), Peek::Empty);
    assert!(queue.take_reports().is_empty());
    queue.finish(false).unwrap();
    assert!(!path.exists());
    assert!(!dir.path().join(".q.yaml.journal").exists());
    assert!(!dir.path().join(".q.yaml.lock").exists());
}

#[test]
fn edits_are_reported_and_comments_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.yaml");
    let mut queue = open(&path, &[doc("a: 1"), doc("a: 2")]);
    let m = EXPANDED_LINE;
    std::fs::write(
        &path,
        format!("# mine\n{m}a: 2\n# next\n{m}a: 1\n---\nb: 3\n"),
    )
    .unwrap();
    queue.refresh();
    assert_eq!(
        queue.take_reports(),
        [QueueReport::Changed {
            pending: 3,
            added: 1,
            removed: 0,
            changed: 0,
            reordered: false
        }]
    );
    assert_eq!(take(&mut queue), Some(exp("a: 2")));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!("# mine\n# next\n{m}a: 1\n---\nb: 3\n")
    );
    std::fs::write(&path, format!("---\nb: 3\n{m}a: 1\n")).unwrap();
    queue.refresh();
    assert_eq!(
        queue.take_reports()[0].to_string(),
        "queue: 2 pending (reordered)"
    );
    // Removing the mark is a change: the document is a person's now.
    std::fs::write(&path, "---\nb: 3\n---\na: 1\n").unwrap();
    queue.refresh();
    assert_eq!(
        queue.take_reports()[0].to_string(),
        "queue: 2 pending (1 changed)"
    );
    assert_eq!(take(&mut queue), Some(raw("b: 3")));
    assert_eq!(take(&mut queue), Some(raw("a: 1")));
}

#[test]
fn invalid_edits_wait_and_are_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.yaml");
    let mut queue = open(&path, &[doc("a: 1")]);
    let bad = "---\na: 1\n---\nb: [1, 2\nc: 3\n";
    std::fs::write(&path, bad).unwrap();
    assert_eq!(queue.peek(), Peek::Invalid);
    let reports = queue.take_reports();
    assert_eq!(reports.len(), 1);
    let message = reports[0].to_string();
    assert!(message.contains("line 5, column"), "{message}");
    // Reported once, file untouched.
    assert_eq!(queue.peek(), Peek::Invalid);
    assert!(queue.take_reports().is_empty());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), bad);
    std::fs::write(&path, "---\na: 1\n---\nb: [1, 2]\n").unwrap();
    assert_eq!(take(&mut queue), Some(raw("a: 1")));
    assert_eq!(queue.pending(), 1);
}

#[test]
fn replacements_and_requeue_go_to_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.yaml");
    let mut queue = open(&path, &[]);
    std::fs::write(&path, "a: 1").unwrap();
    assert_eq!(queue.peek(), Peek::Next(raw("a: 1")));
    assert_eq!(queue.take_reports().len(), 1);
    let ticket = queue
        .commit(
            &[doc("a: 2"), doc("a: 3")],
            Some(launch(&doc("a: 1\nREP: 0"))),
        )
        .unwrap()
        .unwrap();
    queue.flush().unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!("{EXPANDED_LINE}a: 2\n{EXPANDED_LINE}a: 3\n")
    );
    queue.requeue(&[ticket]).unwrap();
    assert_eq!(take(&mut queue), Some(exp("a: 1\nREP: 0")));
    assert_eq!(take(&mut queue), Some(exp("a: 2")));
    std::fs::remove_file(&path).unwrap();
    assert_eq!(queue.peek(), Peek::Empty);
    assert!(matches!(
        queue.take_reports()[..],
        [QueueReport::Removed { .. }]
    ));
    queue.finish(false).unwrap();
    assert!(!path.exists(), "not recreated");
}

#[test]
fn unwritten_takes_are_reapplied_to_a_persons_edit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.yaml");
    let docs: Vec<Mapping> = (1..=40)
        .map(|i| doc(&format!("a: {i}\npad: {:0>200}", 0)))
        .collect();
    let mut queue = open(&path, &docs);
    // Two quick takes, not written yet (the file is long): it still holds them.
    for expected in [1, 2] {
        assert_eq!(
            take(&mut queue),
            Some(QueueEntry::Expanded(docs[expected - 1].clone()))
        );
    }
    assert_eq!(documents_in(&path).len(), 40);
    // The person edits the file they see and adds one; one of the taken
    // documents lost its mark on the way.
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replacen(&format!("{EXPANDED_LINE}a: 2\n"), "---\na: 2\n", 1);
    assert!(text.contains("---\na: 2\n"));
    std::fs::write(&path, format!("{text}# mine\n---\nb: 1\n")).unwrap();
    assert_eq!(
        queue.peek(),
        Peek::Next(QueueEntry::Expanded(docs[2].clone()))
    );
    assert_eq!(
        queue.take_reports(),
        [QueueReport::Changed {
            pending: 39,
            added: 1,
            removed: 0,
            changed: 0,
            reordered: false
        }]
    );
    queue.finish(false).unwrap();
    let left = documents_in(&path);
    assert_eq!(left.len(), 39);
    assert_eq!(left[0]["a"], Value::from(3));
    assert!(std::fs::read_to_string(&path)
        .unwrap()
        .ends_with("# mine\n---\nb: 1\n"));
}

#[test]
fn a_crash_puts_the_running_back_once_and_keeps_the_takes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.yaml");
    let docs: Vec<Mapping> = (1..=40).map(|i| doc(&format!("a: {i}"))).collect();
    let mut queue = open(&path, &docs);
    assert_eq!(take(&mut queue), Some(exp("a: 1")));
    let Peek::Next(second) = queue.peek() else {
        panic!()
    };
    let _running = queue.commit(&[], Some(launch(&second))).unwrap();
    queue.flush().unwrap();
    // The runner dies here (kill -9): nothing more is written.
    drop(queue);
    let (mut queue, resumed) = FileQueue::open(&path, "changed", &[]).unwrap();
    assert_eq!(
        resumed,
        Some(Resumed {
            requeued: 1,
            source_changed: true
        })
    );
    assert_eq!(queue.pending(), 39);
    assert_eq!(take(&mut queue), Some(exp("a: 2")));
    assert_eq!(take(&mut queue), Some(exp("a: 3")));
    drop(queue);
    // A stop that wrote everything: nothing is requeued again.
    let (queue, resumed) = FileQueue::open(&path, "changed", &[]).unwrap();
    assert_eq!(resumed.map(|r| r.requeued), Some(0));
    assert_eq!(queue.pending(), 37);
}

#[test]
fn a_second_runner_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.yaml");
    let _queue = open(&path, &[doc("a: 1")]);
    let err = FileQueue::open(&path, "src", &[]).unwrap_err();
    assert!(matches!(err, QueueError::Busy { .. }), "{err}");
}

#[test]
fn resume_reads_states() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.yaml");
    let stale = dir.path().join(".q.yaml.abc123.tmp");
    std::fs::write(&stale, "half").unwrap();
    let resume = |text: &str| {
        std::fs::write(&path, text).unwrap();
        FileQueue::open(&path, "src", &[doc("fresh: 1")])
    };
    assert!(resume("").unwrap().1.is_none());
    assert!(
        !stale.exists(),
        "a killed runner's temporary file is removed"
    );
    assert!(resume("# nothing\n").unwrap().1.is_none());
    assert!(resume("a: 1\n---\n- x\n").is_err());
    assert_eq!(resume("a: 1\n").unwrap().0.pending(), 1);
    // A file of the previous version (no marks): documents with all
    // four runner keys are expanded, a person's `REP: 5` is not.
    let legacy = "---\nx: 1\nREP: 0\nGLOBAL_REP: 0\nRND_IDX: 123456\nHOST: h\n---\nREP: 5\n";
    let mut queue = resume(legacy).unwrap().0;
    assert!(matches!(take(&mut queue), Some(QueueEntry::Expanded(_))));
    assert_eq!(take(&mut queue), Some(raw("REP: 5")));
}

/// A start in a run directory nobody logs to.
fn launch(experiment: &Mapping) -> crate::queue::Launch<'_> {
    crate::queue::Launch {
        experiment,
        run_dir: Path::new("runs/test"),
    }
}

/// A run logged just before a kill (its end not yet in the journal) is done:
/// the next runner neither requeues it nor (with a store) logs it again as
/// cached — the one duplicate document the crash campaign found.
#[test]
fn a_run_logged_just_before_a_crash_is_not_requeued() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.yaml");
    let log = dir.path().join("log.yaml");
    let with_log = |i: u32| doc(&format!("a: {i}\nYamlLog: {}", log.display()));
    let mut queue = open(&path, &[with_log(1), with_log(2)]);
    let Peek::Next(first) = queue.peek() else {
        panic!()
    };
    let started = crate::queue::Launch {
        experiment: &first,
        run_dir: Path::new("runs/s-000-a"),
    };
    queue.commit(&[], Some(started)).unwrap();
    queue.flush().unwrap();
    // Logged, then killed before `finished`.
    std::fs::write(&log, "a: 1\nSTATUS: done\nRUN_DIR: runs/s-000-a\n").unwrap();
    drop(queue);
    let (queue, resumed) = FileQueue::open(&path, "src", &[]).unwrap();
    assert_eq!(resumed.map(|r| r.requeued), Some(0));
    assert_eq!(queue.pending(), 1, "only `a: 2` is left");
}
