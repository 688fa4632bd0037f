//! A small terminal emulator for the tests that run the runner in a pty:
//! it replays what the runner wrote and returns the lines a person would
//! see at the end (scrolled-off lines included). It knows what indicatif
//! and the runner use: printable text with autowrap, `\r`, `\n`, erase
//! line/below (`CSI K`, `CSI J`), cursor up/down/column (`CSI A/B/G`);
//! other escape sequences (colours) are dropped.

/// The screen after `bytes`, `width` columns wide; trailing blanks trimmed.
pub(crate) fn replay(bytes: &[u8], width: usize) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut rows: Vec<Vec<char>> = vec![Vec::new()];
    let (mut row, mut col) = (0_usize, 0_usize);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => col = 0,
            '\n' => {
                row += 1;
                col = 0;
            }
            '\u{1b}' => {
                if chars.peek() != Some(&'[') {
                    chars.next();
                    continue;
                }
                chars.next();
                let mut params = String::new();
                let mut end = ' ';
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() || c == '~' {
                        end = c;
                        break;
                    }
                    params.push(c);
                }
                let n = params.trim_start_matches('?').parse::<usize>().unwrap_or(0);
                while rows.len() <= row {
                    rows.push(Vec::new());
                }
                match end {
                    'A' => row = row.saturating_sub(n.max(1)),
                    'B' => row += n.max(1),
                    'G' => col = n.saturating_sub(1),
                    'K' if n == 2 => rows[row].clear(),
                    'K' => rows[row].truncate(col),
                    'J' => {
                        rows[row].truncate(col);
                        rows.truncate(row + 1);
                    }
                    _ => {}
                }
            }
            c if c.is_control() => {}
            c => {
                if col >= width {
                    row += 1;
                    col = 0;
                }
                while rows.len() <= row {
                    rows.push(Vec::new());
                }
                let line = &mut rows[row];
                while line.len() < col {
                    line.push(' ');
                }
                if col < line.len() {
                    line[col] = c;
                } else {
                    line.push(c);
                }
                col += 1;
            }
        }
    }
    let mut out: Vec<String> = rows
        .into_iter()
        .map(|r| r.into_iter().collect::<String>().trim_end().to_owned())
        .collect();
    while out.last().is_some_and(String::is_empty) {
        out.pop();
    }
    out
}

/// Run `args` of the runner in a pty (`script`) in `dir`, `width` columns
/// wide; what it wrote to the terminal, and its exit status.
pub(crate) fn in_pty(dir: &std::path::Path, args: &[&str], width: usize) -> (Vec<u8>, i32) {
    let mut command = format!("stty cols {width} rows 40; exec '{}'", crate::test::bin());
    for arg in args {
        command.push_str(" '");
        command.push_str(arg);
        command.push('\'');
    }
    let output = std::process::Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .env("TERM", "xterm")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("`script` (util-linux) runs the runner in a pty");
    (output.stdout, output.status.code().unwrap_or(-1))
}

#[test]
fn the_emulator_wraps_overwrites_and_erases() {
    assert_eq!(
        replay(b"abcdef\rX\n12345678", 4),
        ["abcd", "Xf", "1234", "5678"]
    );
    assert_eq!(replay(b"one\ntwo\x1b[1A\r\x1b[2Kuno\n", 10), ["uno", "two"]);
    assert_eq!(replay(b"a\nb\nc\x1b[2A\r\x1b[J", 10), [""; 0]);
    assert_eq!(replay(b"\x1b[1m\x1b[32mdone\x1b[0m", 10), ["done"]);
}
