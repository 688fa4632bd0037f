//! Output formats: YAML documents, aligned tables, CSV, JSON and JSON lines.
//!
//! Tables and CSV are flat: nested mappings become columns named `a.b`,
//! lists are written inline (`[30, 60, 90]`). Columns are the union of the
//! documents' keys in first-seen order (or the `--keep-keys` order); a
//! document without a column gets an empty cell. JSON keeps the nesting, so
//! `pandas.json_normalize` can flatten it; non-finite floats become `null`.

use std::io::{self, Write};

use indexmap::IndexMap;
use yaml_serde::{Mapping, Value};

use crate::expr::key_name;

/// The value at `key`: a top-level key of that exact name, else a dotted
/// path into nested mappings (`optimizer.name`).
pub(crate) fn lookup<'v>(doc: &'v Mapping, key: &str) -> Option<&'v Value> {
    if let Some(value) = doc.get(key) {
        return Some(value);
    }
    let (head, rest) = key.split_once('.')?;
    match doc.get(head)? {
        Value::Mapping(inner) => lookup(inner, rest),
        _ => None,
    }
}

/// Only `keys`, in their order; a dotted key keeps its nesting
/// (`optimizer.name` gives `optimizer: {name: ...}`). Missing keys are left
/// out.
pub(crate) fn project(doc: &Mapping, keys: &[String]) -> Mapping {
    let mut out = Mapping::new();
    for key in keys {
        if let Some(value) = doc.get(key.as_str()) {
            out.insert(Value::String(key.clone()), value.clone());
        } else if let Some(value) = lookup(doc, key) {
            insert_path(&mut out, key, value.clone());
        }
    }
    out
}

fn insert_path(out: &mut Mapping, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            out.insert(Value::String(path.to_owned()), value);
        }
        Some((head, rest)) => {
            let slot = out
                .entry(Value::String(head.to_owned()))
                .or_insert_with(|| Value::Mapping(Mapping::new()));
            if !slot.is_mapping() {
                *slot = Value::Mapping(Mapping::new());
            }
            if let Value::Mapping(inner) = slot {
                insert_path(inner, rest, value);
            }
        }
    }
}

/// Nested mappings flattened into `a.b` keys, in document order.
pub(crate) fn flatten(doc: &Mapping) -> Vec<(String, Value)> {
    let mut out = Vec::with_capacity(doc.len());
    flatten_into(doc, "", &mut out);
    out
}

fn flatten_into(doc: &Mapping, prefix: &str, out: &mut Vec<(String, Value)>) {
    for (k, v) in doc {
        let name = if prefix.is_empty() {
            key_name(k)
        } else {
            format!("{prefix}.{}", key_name(k))
        };
        match v {
            Value::Mapping(inner) if !inner.is_empty() => flatten_into(inner, &name, out),
            other => out.push((name, other.clone())),
        }
    }
}

/// Flat rows under the union of their columns.
pub(crate) struct Rows {
    pub(crate) columns: Vec<String>,
    pub(crate) rows: Vec<Vec<Option<Value>>>,
}

impl Rows {
    pub(crate) fn from_flat(records: impl IntoIterator<Item = Vec<(String, Value)>>) -> Self {
        let mut columns: IndexMap<String, ()> = IndexMap::new();
        let flat: Vec<Vec<(usize, Value)>> = records
            .into_iter()
            .map(|record| {
                record
                    .into_iter()
                    .map(|(k, v)| (columns.insert_full(k, ()).0, v))
                    .collect()
            })
            .collect();
        let width = columns.len();
        let rows = flat
            .into_iter()
            .map(|record| {
                let mut row = vec![None; width];
                for (i, v) in record {
                    row[i] = Some(v);
                }
                row
            })
            .collect();
        Self {
            columns: columns.into_keys().collect(),
            rows,
        }
    }

    /// The columns in the order of `keys` (`--keep-keys`): a column `a.b`
    /// flattened from key `a` stands where `a` was asked for, and a key
    /// that no document has is an empty column rather than none.
    pub(crate) fn in_order(self, keys: &[String]) -> Self {
        let rank = |column: &str| {
            keys.iter().position(|k| {
                column == k
                    || column
                        .strip_prefix(k.as_str())
                        .is_some_and(|r| r.starts_with('.'))
            })
        };
        let mut order: Vec<(usize, usize)> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| (rank(c).unwrap_or(keys.len()), i))
            .collect();
        order.sort_by_key(|&(rank, _)| rank);
        let mut columns: Vec<String> = Vec::with_capacity(order.len());
        let mut sources: Vec<Option<usize>> = Vec::with_capacity(order.len());
        for (k, key) in keys.iter().enumerate() {
            let mut found = false;
            for &(_, i) in order.iter().filter(|&&(rank, _)| rank == k) {
                columns.push(self.columns[i].clone());
                sources.push(Some(i));
                found = true;
            }
            if !found && !columns.contains(key) {
                columns.push(key.clone());
                sources.push(None);
            }
        }
        for &(_, i) in order.iter().filter(|&&(rank, _)| rank == keys.len()) {
            columns.push(self.columns[i].clone());
            sources.push(Some(i));
        }
        let rows = self
            .rows
            .into_iter()
            .map(|row| {
                sources
                    .iter()
                    .map(|s| s.and_then(|i| row[i].clone()))
                    .collect()
            })
            .collect();
        Self { columns, rows }
    }

    /// Cells for [`write_table`](super::table::write_table).
    pub(crate) fn cells(&self) -> Vec<Vec<Option<Cell>>> {
        self.rows
            .iter()
            .map(|row| row.iter().map(|v| v.as_ref().map(Cell::of)).collect())
            .collect()
    }
}

/// A table cell: its text and whether it is a number (right-aligned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cell {
    pub(crate) text: String,
    pub(crate) numeric: bool,
}

impl Cell {
    pub(crate) fn of(value: &Value) -> Self {
        Self {
            text: inline(value),
            numeric: matches!(value, Value::Number(_)),
        }
    }
}

/// A value on one line: scalars as YAML writes them, collections in flow
/// style.
pub(crate) fn inline(value: &Value) -> String {
    let mut out = String::new();
    write_inline(value, &mut out);
    out
}

fn write_inline(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => out.push_str(s),
        Value::Sequence(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_inline(item, out);
            }
            out.push(']');
        }
        Value::Mapping(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&key_name(k));
                out.push_str(": ");
                write_inline(v, out);
            }
            out.push('}');
        }
        Value::Tagged(tagged) => write_inline(&tagged.value, out),
    }
}

/// CSV (RFC 4180) with a header row; missing cells and nulls are empty.
pub(crate) fn write_csv(out: &mut impl Write, rows: &Rows) -> io::Result<()> {
    let header: Vec<&str> = rows.columns.iter().map(String::as_str).collect();
    write_csv_line(out, header.into_iter())?;
    for row in &rows.rows {
        let texts: Vec<String> = row
            .iter()
            .map(|v| match v {
                None | Some(Value::Null) => String::new(),
                Some(v) => inline(v),
            })
            .collect();
        write_csv_line(out, texts.iter().map(String::as_str))?;
    }
    Ok(())
}

pub(crate) fn write_csv_line<'a>(
    out: &mut impl Write,
    fields: impl Iterator<Item = &'a str>,
) -> io::Result<()> {
    for (i, field) in fields.enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        let quote = field
            .bytes()
            .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
            || field.starts_with(' ')
            || field.ends_with(' ');
        if quote {
            out.write_all(b"\"")?;
            for (j, part) in field.split('"').enumerate() {
                if j > 0 {
                    out.write_all(b"\"\"")?;
                }
                out.write_all(part.as_bytes())?;
            }
            out.write_all(b"\"")?;
        } else {
            out.write_all(field.as_bytes())?;
        }
    }
    out.write_all(b"\n")
}

/// A YAML value as JSON: keys as text, non-finite floats as `null`.
pub(crate) fn to_json(value: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                J::from(i)
            } else if let Some(u) = n.as_u64() {
                J::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(J::Null, J::Number)
            }
        }
        Value::String(s) => J::String(s.clone()),
        Value::Sequence(items) => J::Array(items.iter().map(to_json).collect()),
        Value::Mapping(map) => mapping_to_json(map),
        Value::Tagged(tagged) => to_json(&tagged.value),
    }
}

pub(crate) fn mapping_to_json(map: &Mapping) -> serde_json::Value {
    serde_json::Value::Object(map.iter().map(|(k, v)| (key_name(k), to_json(v))).collect())
}

/// A JSON array with one object per line (`pandas.read_json`).
pub(crate) fn write_json<'a>(
    out: &mut impl Write,
    docs: impl IntoIterator<Item = &'a Mapping>,
) -> io::Result<()> {
    out.write_all(b"[")?;
    for (i, doc) in docs.into_iter().enumerate() {
        out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        serde_json::to_writer(&mut *out, &mapping_to_json(doc))?;
    }
    out.write_all(b"\n]\n")
}

/// One JSON object per line (`pandas.read_json(..., lines=True)`).
pub(crate) fn write_jsonl<'a>(
    out: &mut impl Write,
    docs: impl IntoIterator<Item = &'a Mapping>,
) -> io::Result<()> {
    for doc in docs {
        serde_json::to_writer(&mut *out, &mapping_to_json(doc))?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Mapping {
        yaml_serde::from_str(text).unwrap()
    }

    #[test]
    fn lookup_and_project_reach_into_mappings() {
        let d = doc("a: 1\nopt: {name: sgd, lr: 0.1}\nx.y: 2\n");
        assert_eq!(lookup(&d, "opt.name"), Some(&Value::from("sgd")));
        assert_eq!(lookup(&d, "x.y"), Some(&Value::from(2)));
        assert_eq!(lookup(&d, "opt.missing"), None);
        let p = project(&d, &["opt.lr".into(), "a".into(), "nope".into()]);
        assert_eq!(p, doc("opt: {lr: 0.1}\na: 1\n"));
    }

    #[test]
    fn flatten_and_union_of_columns() {
        let rows = Rows::from_flat([
            flatten(&doc("a: 1\nb: {c: [1, 2], d: x}\n")),
            flatten(&doc("a: 2\ne: null\n")),
        ]);
        assert_eq!(rows.columns, ["a", "b.c", "b.d", "e"]);
        let mut csv = Vec::new();
        write_csv(&mut csv, &rows).unwrap();
        assert_eq!(
            String::from_utf8(csv).unwrap(),
            "a,b.c,b.d,e\n1,\"[1, 2]\",x,\n2,,,\n"
        );
    }

    #[test]
    fn columns_keep_the_requested_order() {
        let keys: Vec<String> = ["lr", "PARTIAL", "opt", "EXIT_CODE", "NOPE"]
            .map(String::from)
            .to_vec();
        let rows = Rows::from_flat([
            flatten(&project(&doc("EXIT_CODE: 0\nlr: 1\nopt: {a: 1}\n"), &keys)),
            flatten(&project(
                &doc("PARTIAL: true\nEXIT_CODE: 1\nlr: 2\n"),
                &keys,
            )),
        ])
        .in_order(&keys);
        assert_eq!(
            rows.columns,
            ["lr", "PARTIAL", "opt.a", "EXIT_CODE", "NOPE"]
        );
        assert_eq!(rows.rows[1][1], Some(Value::Bool(true)));
        assert_eq!(rows.rows[0][4], None);
    }

    #[test]
    fn json_keeps_nesting() {
        let d = doc("a: .nan\nb: {c: [1, x]}\n1: true\n");
        let mut out = Vec::new();
        write_jsonl(&mut out, [&d]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"a\":null,\"b\":{\"c\":[1,\"x\"]},\"1\":true}\n"
        );
    }
}
