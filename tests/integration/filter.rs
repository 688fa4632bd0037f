//! `filter`: the original README's examples in Rhai form, `%FILE`
//! arguments, sorting rules, bad expressions, formats and aggregation
//! (SPEC §6, issue 4).

use crate::test::Test;

/// Two logs as `collect` writes them.
const LOGS_1: &str = "\
---
name: resnet
model: resnet20
RND_IDX: 101
ACC: 0.95
TIME: 30
---
name: vgg
model: vgg16
RND_IDX: 102
ACC: 0.85
TIME: 10
---
name: no-time
model: wrn
RND_IDX: 103
ACC: 0.99
";
const LOGS_2: &str = "\
---
name: vgg
model: vgg19
RND_IDX: 104
ACC: 0.97
TIME: 20
---
name: resnet
model: resnet56
RND_IDX: 105
ACC: 0.91
TIME: 40
LOSS: 0.3
---
name: crashed
model: resnet20
RND_IDX: 106
TIME: 5
";

fn logs() -> Test {
    Test::new()
        .write("logs_2021-01-01_12-00-00.yaml", LOGS_1)
        .write("logs_2021-01-01_12-05-30.yaml", LOGS_2)
}

const BOTH: [&str; 3] = [
    "filter",
    "logs_2021-01-01_12-00-00.yaml",
    "logs_2021-01-01_12-05-30.yaml",
];

fn field(docs: &[yaml_serde::Value], key: &str) -> Vec<String> {
    docs.iter()
        .map(|d| match &d[key] {
            yaml_serde::Value::Null => "-".to_owned(),
            v => yaml_serde::to_string(v).unwrap().trim().to_owned(),
        })
        .collect()
}

/// The original README: `python filter.py LOG1 LOG2 %args` with an `args`
/// file, here with Rhai expressions.
#[test]
fn readme_args_file_in_rhai() {
    let args = "\
--filter=\"TIME\" in exp
--filter=\"ACC\" in exp && exp.ACC > 0.9
--sort=exp.TIME
--sort=exp.name
--reverse
--keep-keys
ACC
RND_IDX
name
model
TIME
";
    let ran = logs()
        .write("args", args)
        .args(&BOTH)
        .args(&["%args"])
        .run()
        .status(0);
    let docs = ran.documents();
    // TIME and ACC > 0.9; by name descending, then TIME descending.
    assert_eq!(field(&docs, "RND_IDX"), ["104", "105", "101"]);
    assert_eq!(
        ran.stdout().split("---\n").nth(1).unwrap(),
        "ACC: 0.97\nRND_IDX: 104\nname: vgg\nmodel: vgg19\nTIME: 20\n"
    );
    assert_eq!(ran.stderr(), "kept 3 of 6 documents\n");
}

/// The same `args` file as the original README wrote it, in Python: the
/// `lambda exp:` prefix, single quotes and `and` are accepted.
#[test]
fn readme_args_file_in_python_form() {
    let args = "\
--filter=lambda exp: 'TIME' in exp
--filter=lambda exp: 'ACC' in exp and exp['ACC'] > 0.9
--sort=lambda exp: exp['TIME']
--sort=lambda exp: exp['name']
--reverse
--keep-keys
ACC
RND_IDX
name
model
TIME
";
    let ran = logs()
        .write("args", args)
        .args(&BOTH)
        .args(&["%args"])
        .run()
        .status(0);
    assert_eq!(field(&ran.documents(), "RND_IDX"), ["104", "105", "101"]);
}

/// `python filter.py logs.yaml --filter "lambda exp: 'ACC' in exp and
/// exp['ACC'] > 0.9" --sort "lambda exp: exp['TIME']" --keep-keys Name ACC`
#[test]
fn readme_command_line_example() {
    let python = logs()
        .args(&[
            "filter",
            "logs_2021-01-01_12-00-00.yaml",
            "--filter",
            "lambda exp: 'ACC' in exp and exp['ACC'] > 0.9",
            "--sort",
            "lambda exp: exp['TIME']",
            "--keep-keys",
            "name",
            "ACC",
        ])
        .run()
        .status(0);
    let rhai = logs()
        .args(&[
            "filter",
            "logs_2021-01-01_12-00-00.yaml",
            "--filter",
            r#""ACC" in exp && exp.ACC > 0.9"#,
            "--sort",
            "exp.TIME",
            "--keep-keys",
            "name",
            "ACC",
        ])
        .run()
        .status(0);
    assert_eq!(python.stdout(), rhai.stdout());
    // `no-time` has no TIME: it sorts last, and the failure is counted.
    assert_eq!(
        rhai.stdout(),
        "---\nname: resnet\nACC: 0.95\n---\nname: no-time\nACC: 0.99\n"
    );
    assert_eq!(
        rhai.stderr(),
        "warning: `--sort` expression `exp.TIME` failed on 1 document (counted as a missing \
         key, sorted last); the first, at logs_2021-01-01_12-00-00.yaml:13: Property not \
         found: TIME (column 5 of the expression)\nkept 2 of 3 documents\n"
    );
}

#[test]
fn without_arguments_every_document_is_copied_as_written() {
    let ran = logs().args(&BOTH).run().status(0);
    assert_eq!(ran.stdout(), format!("{LOGS_1}{LOGS_2}"));
}

#[test]
fn sorts_are_stable_and_missing_keys_sort_last_both_ways() {
    let log = "\
---
{id: 1, k: 2}
---
{id: 2}
---
{id: 3, k: 1}
---
{id: 4, k: 2}
---
{id: 5, k: [1, 2]}
---
{id: 6, k: text}
---
{id: 7, k: 1.5}
";
    let ids = |extra: &[&str]| {
        let ran = Test::new()
            .write("l.yaml", log)
            .args(&["filter", "l.yaml", "--sort", "exp.k"])
            .args(extra)
            .run()
            .status(0);
        field(&ran.documents(), "id").join(" ")
    };
    // Numbers (ints and floats by value), strings, lists, then missing;
    // equal keys keep their order (1 before 4).
    assert_eq!(ids(&[]), "3 7 1 4 6 5 2");
    assert_eq!(ids(&["--reverse"]), "5 6 1 4 7 3 2");
    // Two sorts: the last is the primary key.
    let ran = Test::new()
        .write(
            "l.yaml",
            "{a: 1, b: 2, id: 1}\n---\n{a: 2, b: 1, id: 2}\n---\n{a: 1, b: 1, id: 3}\n",
        )
        .args(&["filter", "l.yaml", "--sort", "exp.a", "--sort", "exp.b"])
        .run()
        .status(0);
    assert_eq!(field(&ran.documents(), "id"), ["3", "2", "1"]);
    // List keys compare element by element, like Python tuples.
    let ran = Test::new()
        .write(
            "l.yaml",
            "{a: 1, b: 2, id: 1}\n---\n{a: 2, b: 1, id: 2}\n---\n{a: 1, b: 1, id: 3}\n",
        )
        .args(&["filter", "l.yaml", "--sort", "[exp.a, exp.b]"])
        .run()
        .status(0);
    assert_eq!(field(&ran.documents(), "id"), ["3", "1", "2"]);
    // Without `--sort`, `--reverse` reverses the documents.
    assert_eq!(
        field(
            &Test::new()
                .write("l.yaml", log)
                .args(&["filter", "l.yaml", "--reverse"])
                .run()
                .status(0)
                .documents(),
            "id"
        )
        .join(" "),
        "7 6 5 4 3 2 1"
    );
}

#[test]
fn failing_filters_count_as_false() {
    let ran = logs()
        .args(&BOTH)
        .args(&["--filter", "exp.LOSS < 1", "--keep-keys", "RND_IDX"])
        .run()
        .status(0);
    assert_eq!(ran.stdout(), "---\nRND_IDX: 105\n");
    assert!(
        ran.stderr().starts_with(
            "warning: `--filter` expression `exp.LOSS < 1` failed on 5 documents (counted as \
             false); the first, at logs_2021-01-01_12-00-00.yaml:1: Property not found: LOSS"
        ),
        "{}",
        ran.stderr()
    );
}

#[test]
fn bad_expressions_are_bad_input() {
    let ran = logs()
        .args(&BOTH)
        .args(&["--filter", "lambda exp: exp.ACC >"])
        .run()
        .status(2);
    assert_eq!(
        ran.stderr(),
        "error: invalid `--filter` expression `lambda exp: exp.ACC >`: syntax error: Script is \
         incomplete (column 10 of the expression)\n  exp.ACC >\n           ^\n"
    );
    assert_eq!(ran.stdout(), "");
    let ran = logs()
        .args(&BOTH)
        .args(&["--sort", "ACC + 1"])
        .run()
        .status(2);
    assert!(
        ran.stderr().starts_with(
            "error: invalid `--sort` expression `ACC + 1`: syntax error: Undefined variable: ACC (column 1"
        ),
        "{}",
        ran.stderr()
    );
    let ran = logs()
        .args(&BOTH)
        .args(&["--filter", "lambda a, b: a"])
        .run()
        .status(2);
    assert!(
        ran.stderr().contains("exactly one parameter"),
        "{}",
        ran.stderr()
    );
    let ran = logs()
        .args(&BOTH)
        .args(&["--filter", "exp.ACC"])
        .run()
        .status(0);
    assert!(ran.stderr().contains("not a boolean"), "{}", ran.stderr());
}

#[test]
fn missing_logs_args_files_and_invalid_logs_are_bad_input() {
    let ran = Test::new().args(&["filter", "nope.yaml"]).run().status(2);
    assert!(
        ran.stderr()
            .starts_with("error: failed to read log `nope.yaml`: "),
        "{}",
        ran.stderr()
    );
    let ran = logs().args(&BOTH).args(&["%missing"]).run().status(2);
    assert!(
        ran.stderr()
            .starts_with("error: failed to read argument file `missing`: "),
        "{}",
        ran.stderr()
    );
    let ran = Test::new()
        .write("bad.yaml", "---\na: 1\n---\nb: [1,\nc: 2\n")
        .args(&["filter", "bad.yaml"])
        .run()
        .status(2);
    assert!(
        ran.stderr().starts_with("error: invalid YAML at bad.yaml:"),
        "{}",
        ran.stderr()
    );
}

#[test]
fn dest_writes_a_timestamped_file() {
    let ran = logs()
        .args(&BOTH)
        .args(&[
            "--filter",
            "exp.name == 'vgg'",
            "--dest",
            "out",
            "--format",
            "csv",
            "--keep-keys",
            "name",
            "model",
        ])
        .run()
        .status(0);
    let path = ran.stdout();
    assert!(
        path.starts_with("out/filtered_") && path.ends_with(".csv\n"),
        "{path}"
    );
    let text = std::fs::read_to_string(ran.dir.join(path.trim())).unwrap();
    assert_eq!(text, "name,model\nvgg,vgg16\nvgg,vgg19\n");
}

#[test]
fn table_output() {
    let ran = logs()
        .write("nested.yaml", "---\nName: a\nopt: {name: sgd, lr: 0.1}\nschedule: [30, 60]\nACC: 0.9\n---\nName: long-name\nopt: {name: adam}\nACC: 0.95\n")
        .args(&["filter", "nested.yaml", "--format", "table"])
        .run()
        .status(0);
    insta::assert_snapshot!("filter_table", ran.stdout());
    let ran = logs()
        .args(&BOTH)
        .args(&[
            "--sort",
            "exp.ACC",
            "--reverse",
            "--format",
            "table",
            "--keep-keys",
            "name",
            "model",
            "ACC",
            "TIME",
        ])
        .run()
        .status(0);
    insta::assert_snapshot!("filter_table_keep_keys", ran.stdout());
}

#[test]
fn json_and_jsonl_output() {
    let ran = logs()
        .args(&[
            "filter",
            "logs_2021-01-01_12-00-00.yaml",
            "--format",
            "jsonl",
            "--keep-keys",
            "name",
            "ACC",
        ])
        .run()
        .status(0);
    assert_eq!(
        ran.stdout(),
        "{\"name\":\"resnet\",\"ACC\":0.95}\n{\"name\":\"vgg\",\"ACC\":0.85}\n{\"name\":\"no-time\",\"ACC\":0.99}\n"
    );
    let ran = logs()
        .args(&[
            "filter",
            "logs_2021-01-01_12-00-00.yaml",
            "--format",
            "json",
        ])
        .run()
        .status(0);
    let json: serde_json::Value = serde_json::from_str(&ran.stdout()).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 3);
    assert_eq!(json[2]["model"], "wrn");
}

/// Results across seeds: 3 configurations × repetitions.
const SEEDS: &str = "\
---
{lr: 0.1, model: {depth: 20}, REP: 0, ACC: 0.90, LOSS: 0.5}
---
{lr: 0.1, model: {depth: 20}, REP: 1, ACC: 0.92, LOSS: 0.4}
---
{lr: 0.1, model: {depth: 20}, REP: 2, ACC: 0.94}
---
{lr: 0.01, model: {depth: 20}, REP: 0, ACC: 0.80, LOSS: 0.9}
---
{lr: 0.01, model: {depth: 20}, REP: 1, ACC: 0.84, LOSS: 0.7}
---
{lr: 0.1, model: {depth: 56}, REP: 0, ACC: 0.951, LOSS: 0.2}
---
{model: {depth: 56}, REP: 0, ACC: 0.5}
";

#[test]
fn aggregation_table() {
    let ran = Test::new()
        .write("seeds.yaml", SEEDS)
        .args(&[
            "filter",
            "seeds.yaml",
            "--group-by",
            "lr",
            "model.depth",
            "--agg",
            "ACC,LOSS",
        ])
        .run()
        .status(0);
    insta::assert_snapshot!("aggregate_table", ran.stdout());
    let ran = Test::new()
        .write("seeds.yaml", SEEDS)
        .args(&[
            "filter",
            "seeds.yaml",
            "--filter",
            "\"lr\" in exp",
            "--group-by",
            "lr",
            "--agg",
            "ACC",
            "--agg-stats",
        ])
        .run()
        .status(0);
    insta::assert_snapshot!("aggregate_table_stats", ran.stdout());
}

#[test]
fn aggregation_csv_and_json() {
    let ran = Test::new()
        .write("seeds.yaml", SEEDS)
        .args(&[
            "filter",
            "seeds.yaml",
            "--group-by",
            "lr",
            "--agg",
            "ACC",
            "--format",
            "csv",
            "--filter",
            "\"lr\" in exp",
        ])
        .run()
        .status(0);
    let csv = ran.stdout();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("lr,n,ACC_mean,ACC_std,ACC_n"));
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&row[..2], ["0.01", "2"]);
    assert!(
        (row[2].parse::<f64>().unwrap() - 0.82).abs() < 1e-9,
        "{csv}"
    );
    let ran = Test::new()
        .write("seeds.yaml", SEEDS)
        .args(&["filter", "seeds.yaml", "--agg", "ACC", "--format", "json"])
        .run()
        .status(0);
    let json: serde_json::Value = serde_json::from_str(&ran.stdout()).unwrap();
    assert_eq!(json[0]["n"], 7);
    assert_eq!(json[0]["ACC_n"], 7);
    // Groups follow the sorted documents when `--sort` is given.
    let ran = Test::new()
        .write("seeds.yaml", SEEDS)
        .args(&[
            "filter",
            "seeds.yaml",
            "--group-by",
            "lr",
            "--sort",
            "exp.ACC",
            "--reverse",
            "--format",
            "jsonl",
        ])
        .run()
        .status(0);
    let first_lr: Vec<String> = ran
        .stdout()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["lr"].to_string())
        .collect();
    assert_eq!(first_lr, ["0.1", "0.01", "null"]);
}

#[test]
fn aggregation_rejects_keep_keys() {
    let ran = logs()
        .args(&BOTH)
        .args(&["--group-by", "name", "--keep-keys", "ACC"])
        .run()
        .status(2);
    assert!(
        ran.stderr().contains("`--keep-keys` cannot be combined"),
        "{}",
        ran.stderr()
    );
}

/// More rows than a table is sized on (1,000): the widths come from the
/// first 1,000 rows, a later wider cell is cut with `…` and stderr says
/// so; CSV and JSON lines keep every value whole.
#[test]
fn long_tables_are_sized_on_their_first_rows_and_streamed() {
    use std::fmt::Write as _;
    let mut log = String::new();
    for i in 0..1200 {
        let name = if i == 1100 {
            "a-name-longer-than-any-before".to_owned()
        } else {
            format!("exp{i:04}")
        };
        let _ = write!(
            log,
            "---\nName: {name}\nopt:\n  lr: 0.{i}\nschedule: [1, 2]\nACC: {i}\n"
        );
    }
    let ran = Test::new()
        .write("log.yaml", &log)
        .args(&["filter", "log.yaml", "--format", "table", "--width", "0"])
        .run()
        .status(0);
    let out = ran.stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2 + 1200, "{out}");
    // Sized on rows 0 to 999: `0.999` and `999` are the widest.
    assert_eq!(lines[0], "Name     opt.lr  schedule  ACC");
    assert_eq!(lines[2], "exp0000     0.0  [1, 2]      0");
    assert_eq!(lines[1001], "exp0999   0.999  [1, 2]    999");
    assert_eq!(lines[1002], "exp1000     0.1  [1, 2]    1000");
    assert_eq!(lines[1102], "a-name…    0.11  [1, 2]    1100");
    assert_eq!(lines[1201], "exp1199  0.1199  [1, 2]    1199");
    assert!(
        ran.stderr().contains(
            "note: the table's column widths were taken from its first 1000 rows; 1 later \
             text wider than its column was cut with `…`, 200 later numbers wider than their \
             column were written whole, out of line"
        ),
        "{}",
        ran.stderr()
    );
    for format in ["csv", "jsonl"] {
        let ran = Test::new()
            .write("log.yaml", &log)
            .args(&["filter", "log.yaml", "--format", format])
            .run()
            .status(0);
        assert!(ran.stdout().contains("a-name-longer-than-any-before"));
        assert!(!ran.stderr().contains("note:"), "{}", ran.stderr());
    }
    let ran = Test::new()
        .write("log.yaml", &log)
        .args(&["filter", "log.yaml", "--format", "csv"])
        .run()
        .status(0);
    let csv = ran.stdout();
    let csv: Vec<&str> = csv.lines().collect();
    assert_eq!(csv[0], "Name,opt.lr,schedule,ACC");
    assert_eq!(
        csv[1101],
        "a-name-longer-than-any-before,0.11,\"[1, 2]\",1100"
    );
}

/// The same document through the fast writers (a plain log) and through
/// the values (a document `yaml_serde` reads: an anchor) writes the same.
#[test]
fn plain_and_other_documents_write_alike() {
    let plain =
        "---\nName: a\nopt: {lr: 0.5, m: [1, x]}\nbig: 1.0e+300\nq: 'x, \"y\"'\nn:\nACC: 0.9\n";
    let other =
        "---\nName: &n a\nopt: {lr: 0.5, m: [1, x]}\nbig: 1.0e+300\nq: 'x, \"y\"'\nn:\nACC: 0.9\n";
    for format in ["json", "jsonl", "csv", "table"] {
        let out = |log: &str| {
            Test::new()
                .write("log.yaml", log)
                .args(&["filter", "log.yaml", "--format", format])
                .run()
                .status(0)
                .stdout()
        };
        assert_eq!(out(plain), out(other), "{format}");
    }
}

/// A log of `n` documents of several shapes: plain ones (the fast reader's
/// subset), ones it leaves to `yaml_serde` (an anchor, a block scalar),
/// one that is not a mapping, nested keys that flatten to one column
/// (`a.b` and `a: {b: ...}`), nulls, and keys that appear late.
fn mixed_log(n: usize) -> String {
    (0..n)
        .map(|i| match i % 7 {
            0 => format!("---\nName: e{i}\nlr: 0.{i}\nACC: {}\n", i % 13),
            1 => format!(
                "---\nName: e{i}\nopt: &o {{name: sgd, lr: 0.1}}\nsame: *o\nnote: |\n  two\n  lines\n"
            ),
            2 => "---\njust a string\n".to_owned(),
            3 => format!("---\na.b: {i}\na:\n  b:\n  c: [1, x]\nn: null\n"),
            4 => format!("---\nName: 'quoted, {i}'\nlate_{}: yes\n", i / 500),
            5 => format!(
                "---\nName: e{i}\nempty: {{}}\nlist: []\nwide: {}\n",
                "w".repeat(i % 40)
            ),
            _ => format!("---\nName: e{i}\nx: {i}\n# a comment\ny: -{i}.5e3\n"),
        })
        .collect()
}

/// Whole documents in JSON, JSON lines, CSV and tables are read once
/// (`filter::one_pass`); a `--filter` that keeps everything takes the
/// general path. Both write the same bytes, for short and streamed tables
/// and panels.
#[test]
fn whole_documents_are_written_as_the_general_path_writes_them() {
    for n in [20, 2500] {
        let log = mixed_log(n);
        let run = |args: &[&str]| {
            Test::new()
                .write("log.yaml", &log)
                .args(args)
                .run()
                .status(0)
        };
        for format in ["json", "jsonl", "csv", "table"] {
            for width in ["0", "70"] {
                let args = ["filter", "log.yaml", "--format", format, "--width", width];
                let once = run(&args);
                let general = run(&[&args[..], &["--filter", "true"]].concat());
                assert_eq!(once.stdout(), general.stdout(), "{format}, {n} documents");
                assert_eq!(once.stderr(), general.stderr(), "{format}, {n} documents");
                assert!(!once.stdout().is_empty());
            }
        }
    }
}

/// An invalid document after thousands of valid ones: every format writes
/// nothing (and leaves no file in `--dest`), and the error says where.
#[test]
fn an_invalid_log_writes_nothing_in_any_format() {
    let mut log = mixed_log(3000);
    log.push_str("---\nName: broken\nlist: [1,\nnext: 2\n");
    log.push_str(&mixed_log(10));
    let run = |args: &[&str]| {
        Test::new()
            .write("log.yaml", &log)
            .args(args)
            .run()
            .status(2)
    };
    for format in ["yaml", "json", "jsonl", "csv", "table"] {
        let ran = run(&["filter", "log.yaml", "--format", format]);
        assert_eq!(ran.stdout(), "", "{format}");
        assert!(
            ran.stderr().starts_with("error: invalid YAML at log.yaml:"),
            "{format}: {}",
            ran.stderr()
        );
        let ran = run(&["filter", "log.yaml", "--format", format, "--dest", "out"]);
        let left: Vec<_> = std::fs::read_dir(ran.dir.join("out"))
            .map(|d| d.map(|e| e.unwrap().file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{format}: {left:?}");
    }
}
