//! `collect`: real directory trees with multi-document logs, broken files,
//! excluded directories (SPEC §6, issue 4).

use std::path::Path;

use crate::test::{Ran, Test};

const RUN_A0: &str = "---\nName: a\nREP: 0\nACC: 0.91\n---\nName: a\nREP: 1\nACC: 0.93\n";
const RUN_B: &str = "Name: b\nnested: {x: 1}\n";

/// The single `logs_*.yaml` file in `dir`.
fn output_in(dir: &Path) -> String {
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("logs_")
        })
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    std::fs::read_to_string(&files[0]).unwrap()
}

fn tree() -> Test {
    Test::new()
        .write("data/a/run0.yaml", RUN_A0)
        .write("data/a/notes.txt", "Name: not yaml\n")
        .write("data/b/deep/run.yml", RUN_B)
        .write("data/b/list.yaml", "- 1\n- 2\n---\nName: b2\n")
        .write("data/unwanted_directory/run.yaml", "Name: unwanted\n")
        .write(
            "data/broken.yaml",
            "---\nName: ok\n---\nName: [unclosed\nACC: 1\n",
        )
        .write("temp/t.yaml", "Name: t\n")
}

#[test]
fn collects_mapping_documents_in_walk_order() {
    let ran = tree()
        .args(&[
            "collect",
            "data/",
            "--dest",
            "collected_logs",
            "--exclude",
            "unwanted_directory",
        ])
        .run()
        .status(0);
    let out = output_in(&ran.dir.join("collected_logs"));
    assert_eq!(
        out,
        format!("{RUN_A0}---\nName: b\nnested: {{x: 1}}\n---\nName: b2\n")
    );
    let path = ran.stdout();
    assert!(
        path.starts_with("collected_logs/logs_") && path.ends_with(".yaml\n"),
        "{path}"
    );
    let stderr = ran.stderr();
    assert!(
        stderr.contains("warning: skipped invalid YAML at data/broken.yaml:5"),
        "{stderr}"
    );
    assert!(
        stderr.contains("collected 4 documents from 3 files into `collected_logs/logs_"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "ignored 1 document that is not a mapping; skipped 1 unreadable or invalid path"
        ),
        "{stderr}"
    );
}

#[test]
fn several_paths_and_verbose() {
    let ran = tree()
        .args(&["collect", "temp/", "data/", "-v"])
        .run()
        .status(0);
    let out = output_in(&ran.dir);
    assert!(out.starts_with("---\nName: t\n---\nName: a\n"), "{out}");
    assert!(out.contains("Name: unwanted"), "nothing excluded: {out}");
    let stderr = ran.stderr();
    for dir in [
        "temp/",
        "data/",
        "data/a",
        "data/b/deep",
        "data/unwanted_directory",
    ] {
        assert!(
            stderr.contains(&format!("visiting {dir}\n")),
            "{dir}: {stderr}"
        );
    }
}

#[test]
fn excluded_file_names_and_explicit_files() {
    let ran = tree()
        .args(&[
            "collect",
            "data",
            "temp/t.yaml",
            "data/a/notes.txt",
            "--exclude",
            "b",
            "broken.yaml",
            "unwanted_directory",
        ])
        .run()
        .status(0);
    let out = output_in(&ran.dir);
    // A file named on the command line is read whatever its extension.
    assert_eq!(out, format!("{RUN_A0}---\nName: t\n---\nName: not yaml\n"));
    assert!(!ran.stderr().contains("warning"), "{}", ran.stderr());
}

#[test]
fn never_overwrites_and_never_collects_its_own_output() {
    let test = tree();
    let root = test.path().to_owned();
    let collect = |args: &[&str]| {
        std::process::Command::new(crate::test::bin())
            .current_dir(&root)
            .args(args)
            .output()
            .unwrap()
    };
    let earlier = collect(&["collect", "temp", "--dest", "temp"]);
    assert!(earlier.status.success());
    let later = collect(&["collect", "temp", "--dest", "temp"]);
    assert!(later.status.success());
    let earlier = String::from_utf8(earlier.stdout).unwrap();
    let later = String::from_utf8(later.stdout).unwrap();
    assert_ne!(earlier, later);
    // The first run's output lies in the walked tree: the second collects it
    // (it is a log like any other), but never the file it is writing.
    let content = std::fs::read_to_string(root.join(later.trim())).unwrap();
    assert_eq!(content, "---\nName: t\n---\nName: t\n");
}

#[test]
fn missing_path_is_bad_input() {
    let ran: Ran = Test::new().args(&["collect", "nope/"]).run().status(2);
    assert_eq!(
        ran.stderr(),
        "error: failed to collect `nope/`: no such file or directory\n"
    );
    assert!(
        std::fs::read_dir(&ran.dir).unwrap().next().is_none(),
        "no output file"
    );
}

#[test]
fn unreadable_files_are_reported_and_skipped() {
    let test = Test::new()
        .write("d/good.yaml", "a: 1\n")
        .write("d/latin1.yaml", "");
    std::fs::write(test.path().join("d/latin1.yaml"), b"a: \xe9t\xe9\n").unwrap();
    let ran = test.args(&["collect", "d"]).run().status(0);
    assert_eq!(output_in(&ran.dir), "---\na: 1\n");
    assert!(
        ran.stderr()
            .contains("warning: skipped `d/latin1.yaml`: stream did not contain valid UTF-8"),
        "{}",
        ran.stderr()
    );
}
