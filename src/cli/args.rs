//! `%FILE` arguments: replaced by the lines of FILE, one argument per line,
//! as the original `filter.py` did with argparse's `fromfile_prefix_chars`.
//!
//! ```text
//! --filter=lambda exp: 'TIME' in exp
//! --sort=lambda exp: exp['TIME']
//! --keep-keys
//! ACC
//! name
//! ```
//!
//! A line is one argument even when it holds spaces, so `--keep-keys`
//! continues over the following lines. Empty lines are skipped. A file may
//! name other `%FILE`s (up to a depth of 16, which also stops cycles).

use std::ffi::OsString;

const MAX_DEPTH: usize = 16;

/// Expand every `%FILE` argument after the program name.
pub(crate) fn expand_arg_files(args: Vec<OsString>) -> Result<Vec<OsString>, String> {
    let mut out = Vec::with_capacity(args.len());
    let mut args = args.into_iter();
    out.extend(args.next());
    for arg in args {
        expand(arg, 0, &mut out)?;
    }
    Ok(out)
}

fn expand(arg: OsString, depth: usize, out: &mut Vec<OsString>) -> Result<(), String> {
    let Some(path) = arg.to_str().and_then(|a| a.strip_prefix('%')) else {
        out.push(arg);
        return Ok(());
    };
    if path.is_empty() {
        out.push(arg);
        return Ok(());
    }
    if depth >= MAX_DEPTH {
        return Err(format!(
            "failed to read argument file `{path}`: argument files nest deeper than {MAX_DEPTH} \
             levels (does one name itself?)"
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("failed to read argument file `{path}`: {err}"))?;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        expand(OsString::from(line), depth + 1, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let args = dir.path().join("args");
        let inner = dir.path().join("inner");
        std::fs::write(&inner, "--reverse\n").unwrap();
        std::fs::write(
            &args,
            format!(
                "--filter=lambda exp: 'ACC' in exp\r\n\n--keep-keys\nACC\nname\n%{}\n",
                inner.display()
            ),
        )
        .unwrap();
        let expanded = expand_arg_files(
            [
                "cool-runner",
                "filter",
                "logs.yaml",
                &format!("%{}", args.display()),
                "%",
            ]
            .map(OsString::from)
            .to_vec(),
        )
        .unwrap();
        assert_eq!(
            expanded,
            [
                "cool-runner",
                "filter",
                "logs.yaml",
                "--filter=lambda exp: 'ACC' in exp",
                "--keep-keys",
                "ACC",
                "name",
                "--reverse",
                "%"
            ]
            .map(OsString::from)
        );
    }

    #[test]
    fn missing_and_cyclic_files_are_errors() {
        let err = expand_arg_files(["x", "%/nonexistent/args"].map(OsString::from).to_vec());
        assert!(err.unwrap_err().contains("`/nonexistent/args`"));
        let dir = tempfile::tempdir().unwrap();
        let me = dir.path().join("me");
        std::fs::write(&me, format!("%{}\n", me.display())).unwrap();
        let err = expand_arg_files(vec!["x".into(), format!("%{}", me.display()).into()]);
        assert!(err.unwrap_err().contains("deeper"));
    }
}
