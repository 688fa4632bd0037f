//! A mock executor: scripted outcomes, no processes. Used by the session's
//! unit tests (and by anything scheduling jobs) to check the logic fast and
//! deterministically.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Executor, Exit, Job, OnExit, Running, StartError, Stop};

/// What a mock job named `name` does.
#[derive(Debug, Clone)]
pub(crate) enum Behavior {
    /// Ends at once with this exit.
    Exit(Exit),
    /// Ends with this exit after a while (unless stopped first).
    After(Duration, Exit),
    /// Runs until it gets one of these stop requests, then dies of it.
    UntilStopped(Vec<Stop>),
    /// Cannot be started.
    StartFails(StartError),
}

/// What happened, for assertions.
#[derive(Debug, Default, Clone)]
pub(crate) struct MockLog {
    pub started: Vec<String>,
    /// The extra environment each started job got, in start order.
    pub env: Vec<(String, Vec<(String, String)>)>,
    pub stops: Vec<(String, Stop)>,
}

/// The mock. Jobs without a script end with `Exit::Code(0)`.
#[derive(Debug, Default, Clone)]
pub(crate) struct MockExecutor {
    pub script: HashMap<String, Behavior>,
    pub log: Arc<Mutex<MockLog>>,
}

impl MockExecutor {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    #[must_use]
    pub(crate) fn with(mut self, name: &str, behavior: Behavior) -> Self {
        self.script.insert(name.to_owned(), behavior);
        self
    }

    pub(crate) fn snapshot(&self) -> MockLog {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

type Pending = Arc<Mutex<Option<OnExit>>>;

fn fire(pending: &Pending, exit: Exit) {
    let callback = pending.lock().ok().and_then(|mut p| p.take());
    if let Some(callback) = callback {
        callback(exit);
    }
}

impl Executor for MockExecutor {
    fn start(&mut self, job: &Job, on_exit: OnExit) -> Result<Box<dyn Running>, StartError> {
        let behavior = self
            .script
            .get(&job.name)
            .cloned()
            .unwrap_or(Behavior::Exit(Exit::Code(0)));
        if let Behavior::StartFails(err) = behavior {
            return Err(err);
        }
        if let Ok(mut log) = self.log.lock() {
            log.started.push(job.name.clone());
            log.env.push((job.name.clone(), job.env.clone()));
        }
        let pending: Pending = Arc::new(Mutex::new(Some(on_exit)));
        let obeys = match behavior {
            Behavior::Exit(exit) => {
                fire(&pending, exit);
                Vec::new()
            }
            Behavior::After(delay, exit) => {
                let pending = pending.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(delay);
                    fire(&pending, exit);
                });
                vec![Stop::Interrupt, Stop::Terminate, Stop::Kill]
            }
            Behavior::UntilStopped(obeys) => obeys,
            Behavior::StartFails(_) => unreachable!("handled above"),
        };
        Ok(Box::new(MockRunning {
            name: job.name.clone(),
            obeys,
            pending,
            log: self.log.clone(),
        }))
    }
}

struct MockRunning {
    name: String,
    obeys: Vec<Stop>,
    pending: Pending,
    log: Arc<Mutex<MockLog>>,
}

impl Running for MockRunning {
    fn stop(&mut self, how: Stop) {
        if let Ok(mut log) = self.log.lock() {
            log.stops.push((self.name.clone(), how));
        }
        // SIGKILL cannot be ignored.
        if how == Stop::Kill || self.obeys.contains(&how) {
            let signal = match how {
                Stop::Interrupt => 2,
                Stop::Terminate => 15,
                Stop::Kill => 9,
            };
            fire(&self.pending, Exit::Signal(signal));
        }
    }

    fn id(&self) -> String {
        format!("mock:{}", self.name)
    }
}
