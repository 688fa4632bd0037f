//! Reading Slurm's answers (text with explicit fields, never `--json`,
//! whose format changes between versions) and mapping its job states onto
//! the runner's causes.

use std::collections::HashMap;

use crate::executor::{Cause, Exit};

/// The `squeue` format: job id (`123_4` for an array task), state, node,
/// reason.
pub(crate) const SQUEUE_FORMAT: &str = "%i|%T|%N|%r";

/// One job as `squeue` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listed {
    pub state: String,
    pub node: String,
    pub reason: String,
}

/// Parse `squeue -h -r -o SQUEUE_FORMAT` output, by job id.
pub(crate) fn parse_squeue(text: &str) -> HashMap<String, Listed> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.trim().splitn(4, '|');
            let id = fields.next()?.trim();
            let state = fields.next()?.trim();
            if id.is_empty() || state.is_empty() {
                return None;
            }
            Some((
                id.to_owned(),
                Listed {
                    state: state.to_owned(),
                    node: fields.next().unwrap_or("").trim().to_owned(),
                    reason: fields.next().unwrap_or("").trim().to_owned(),
                },
            ))
        })
        .collect()
}

/// A finished job's record, from `scontrol show job -o` or `sacct -P`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Final {
    pub state: String,
    pub exit: Option<Exit>,
    pub node: String,
}

/// Parse one `scontrol show job -o ID` line (`JobState=FAILED ...
/// ExitCode=3:0 ... NodeList=n1`).
pub(crate) fn parse_scontrol(text: &str) -> Option<Final> {
    let line = text.lines().find(|l| l.contains("JobState="))?;
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|token| token.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or("")
            .to_owned()
    };
    Some(Final {
        state: field("JobState"),
        exit: parse_exit_code(&field("ExitCode")),
        node: match field("NodeList") {
            n if n == "(null)" => String::new(),
            n => n,
        },
    })
}

/// Parse `sacct -X -n -P -o State,ExitCode,NodeList` (`CANCELLED by 0|0:15|n1`).
pub(crate) fn parse_sacct(text: &str) -> Option<Final> {
    let line = text.lines().find(|l| !l.trim().is_empty())?;
    let mut fields = line.split('|');
    let state = fields.next()?.split_whitespace().next()?.to_owned();
    Some(Final {
        state,
        exit: parse_exit_code(fields.next().unwrap_or("")),
        node: fields.next().unwrap_or("").trim().to_owned(),
    })
}

/// `3:0` (exit 3) or `0:9` (signal 9).
fn parse_exit_code(text: &str) -> Option<Exit> {
    let (code, signal) = text.trim().split_once(':')?;
    let (code, signal): (i32, i32) = (code.parse().ok()?, signal.parse().ok()?);
    Some(if signal > 0 {
        Exit::Signal(signal)
    } else {
        Exit::Code(code)
    })
}

/// Whether Slurm will not run the job (any more): it ended.
pub(crate) fn is_terminal(state: &str) -> bool {
    cause_of(state).is_some()
}

/// The cause of a job that ended in Slurm state `state` without telling
/// the runner (no done file); `None` while it is not over.
///
/// | Slurm state | cause | logged `STATUS` |
/// |---|---|---|
/// | COMPLETED, FAILED | ended | `done`/`failed` by the exit code |
/// | TIMEOUT, DEADLINE | timeout | `timeout` |
/// | CANCELLED | cancelled (the runner's own stop: stopped) | `failed` (`interrupted`) |
/// | PREEMPTED | preempted | `failed` |
/// | NODE_FAIL, BOOT_FAIL | node failure | `failed` |
/// | OUT_OF_MEMORY | out of memory | `failed` |
pub(crate) fn cause_of(state: &str) -> Option<Cause> {
    let state = state.split_whitespace().next().unwrap_or("");
    Some(match state {
        "COMPLETED" | "FAILED" => Cause::Ended,
        "TIMEOUT" | "DEADLINE" => Cause::Timeout,
        "CANCELLED" | "REVOKED" | "SPECIAL_EXIT" => Cause::Cancelled,
        "PREEMPTED" => Cause::Preempted,
        "NODE_FAIL" | "BOOT_FAIL" => Cause::NodeFailure,
        "OUT_OF_MEMORY" => Cause::OutOfMemory,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeue_lines() {
        let jobs = parse_squeue(
            "12_0|COMPLETED|localhost|None\n12_1|PENDING||JobArrayTaskLimit\n\n|x\n13|RUNNING|n1|None\n",
        );
        assert_eq!(jobs.len(), 3);
        assert_eq!(jobs["12_1"].state, "PENDING");
        assert_eq!(jobs["12_1"].reason, "JobArrayTaskLimit");
        assert_eq!(jobs["13"].node, "n1");
    }

    #[test]
    fn scontrol_and_sacct_records() {
        let line = "JobId=14 ArrayJobId=12 ArrayTaskId=2 JobName=cr-x UserId=root(0) \
                    JobState=FAILED Reason=NonZeroExitCode Dependency=(null) ExitCode=3:0 \
                    NodeList=localhost BatchHost=localhost";
        let got = parse_scontrol(line).unwrap();
        assert_eq!(
            got,
            Final {
                state: "FAILED".into(),
                exit: Some(Exit::Code(3)),
                node: "localhost".into()
            }
        );
        let killed = parse_scontrol("JobState=CANCELLED ExitCode=0:9 NodeList=(null)").unwrap();
        assert_eq!(
            (killed.exit, killed.node.as_str()),
            (Some(Exit::Signal(9)), "")
        );
        assert_eq!(
            parse_scontrol("slurm_load_jobs error: Invalid job id"),
            None
        );
        let acct = parse_sacct("CANCELLED by 0|0:15|n2\n").unwrap();
        assert_eq!(acct.state, "CANCELLED");
        assert_eq!(acct.exit, Some(Exit::Signal(15)));
    }

    #[test]
    fn states_map_onto_causes() {
        assert_eq!(cause_of("COMPLETED"), Some(Cause::Ended));
        assert_eq!(cause_of("TIMEOUT"), Some(Cause::Timeout));
        assert_eq!(cause_of("CANCELLED by 0"), Some(Cause::Cancelled));
        assert_eq!(cause_of("PREEMPTED"), Some(Cause::Preempted));
        assert_eq!(cause_of("NODE_FAIL"), Some(Cause::NodeFailure));
        assert_eq!(cause_of("OUT_OF_MEMORY"), Some(Cause::OutOfMemory));
        for live in [
            "PENDING",
            "RUNNING",
            "COMPLETING",
            "REQUEUED",
            "SUSPENDED",
            "",
        ] {
            assert!(!is_terminal(live), "{live}");
        }
    }
}
