//! A mock executor: scripted outcomes, no processes. Used by the session's
//! unit tests to check the scheduling logic fast and deterministically. It
//! creates real workspaces and climbs the same stop ladder as the local
//! executor, so only the process is pretend.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Local;
use yaml_serde::Mapping;

use super::ladder::Ladder;
use super::{
    Capacity, Executor, Exit, ExitReport, Job, JobEvent, JobEvents, Launched, Lease, Running,
    SlotConfig, Slots, StartError, Stop, Workspace, WorkspaceConfig,
};

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
#[derive(Clone)]
pub(crate) struct MockExecutor {
    script: HashMap<String, Behavior>,
    log: Arc<Mutex<MockLog>>,
    slots: Arc<Mutex<Slots>>,
    workspaces: WorkspaceConfig,
    grace: Duration,
    /// Where the workspaces are, removed with the last clone.
    _dir: Arc<tempfile::TempDir>,
}

impl MockExecutor {
    /// One slot, workspaces in a temporary directory, 60 ms between the
    /// steps of the stop ladder.
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        Self {
            script: HashMap::new(),
            log: Arc::default(),
            slots: Arc::new(Mutex::new(Slots::new(SlotConfig::default()))),
            workspaces: WorkspaceConfig {
                runs_dir: dir.path().join("runs"),
                stamp: "test".to_owned(),
            },
            grace: Duration::from_millis(60),
            _dir: Arc::new(dir),
        }
    }

    #[must_use]
    pub(crate) fn with(mut self, name: &str, behavior: Behavior) -> Self {
        self.script.insert(name.to_owned(), behavior);
        self
    }

    #[must_use]
    pub(crate) fn with_slots(self, config: SlotConfig) -> Self {
        Self {
            slots: Arc::new(Mutex::new(Slots::new(config))),
            ..self
        }
    }

    pub(crate) fn snapshot(&self) -> MockLog {
        lock(&self.log).clone()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Executor for MockExecutor {
    fn capacity(&mut self, experiment: &Mapping) -> Capacity {
        lock(&self.slots).capacity(experiment)
    }

    fn has_room(&self) -> bool {
        lock(&self.slots).has_free_slot()
    }

    fn release(&mut self, lease: &Lease) {
        lock(&self.slots).release(lease);
    }

    fn start(&mut self, job: Job, lease: Lease, events: JobEvents) -> Result<Launched, StartError> {
        let behavior = self
            .script
            .get(&job.name)
            .cloned()
            .unwrap_or(Behavior::Exit(Exit::Code(0)));
        let workspace = match behavior {
            Behavior::StartFails(ref err) => Err(err.clone()),
            _ => Workspace::create(&self.workspaces, job.index, &job.name, &job.experiment),
        };
        let workspace = workspace.inspect_err(|_| self.release(&lease))?;
        {
            let mut log = lock(&self.log);
            log.started.push(job.name.clone());
            let uses_gpus = lock(&self.slots).uses_gpus();
            log.env.push((job.name.clone(), lease.env(uses_gpus)));
        }
        let ladder = Arc::new(Mutex::new(Ladder::new(
            &job.name,
            Instant::now(),
            job.timeout,
            self.grace,
        )));
        let pretend = Pretend {
            name: job.name.clone(),
            behavior,
            ladder: Arc::clone(&ladder),
            log: Arc::clone(&self.log),
            workspace: workspace.clone(),
        };
        let index = job.index;
        std::thread::spawn(move || {
            let report = pretend.run(&|note| events(index, JobEvent::Note(note)));
            events(index, JobEvent::Ended(Box::new(report)));
        });
        Ok(Launched {
            handle: Box::new(MockRunning {
                name: job.name,
                ladder,
                log: Arc::clone(&self.log),
            }),
            id: "mock".to_owned(),
            run_dir: workspace.dir,
        })
    }
}

/// A job's pretend process, on its own thread.
struct Pretend {
    name: String,
    behavior: Behavior,
    ladder: Arc<Mutex<Ladder>>,
    log: Arc<Mutex<MockLog>>,
    workspace: Workspace,
}

impl Pretend {
    fn run(self, note: &dyn Fn(String)) -> ExitReport {
        let clock = Instant::now();
        let started_at = Local::now();
        let (ends_at, obeys) = match &self.behavior {
            Behavior::Exit(exit) => (Some((clock, *exit)), Vec::new()),
            Behavior::After(delay, exit) => (
                Some((clock + *delay, *exit)),
                vec![Stop::Interrupt, Stop::Terminate, Stop::Kill],
            ),
            Behavior::UntilStopped(obeys) => (None, obeys.clone()),
            Behavior::StartFails(_) => (Some((clock, Exit::Code(127))), Vec::new()),
        };
        let exit = loop {
            if let Some((_, exit)) = ends_at.filter(|(at, _)| Instant::now() >= *at) {
                break exit;
            }
            if let Some(exit) = self.obey(&obeys, note) {
                break exit;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let cause = lock(&self.ladder).cause();
        self.workspace
            .report(cause, exit, started_at, clock.elapsed())
    }

    /// Carry out a due step of the ladder (a timeout or an escalation) and
    /// the stop requests that came; the exit if one of them ends the job.
    fn obey(&self, obeys: &[Stop], note: &dyn Fn(String)) -> Option<Exit> {
        let due = lock(&self.ladder).due(Instant::now());
        if let Some((how, text)) = due {
            note(text);
            lock(&self.log).stops.push((self.name.clone(), how));
        }
        let stops = lock(&self.log).stops.clone();
        stops
            .iter()
            .filter(|(name, _)| *name == self.name)
            .find(|(_, how)| *how == Stop::Kill || obeys.contains(how))
            .map(|(_, how)| {
                Exit::Signal(match how {
                    Stop::Interrupt => 2,
                    Stop::Terminate => 15,
                    Stop::Kill => 9,
                })
            })
    }
}

struct MockRunning {
    name: String,
    ladder: Arc<Mutex<Ladder>>,
    log: Arc<Mutex<MockLog>>,
}

impl Running for MockRunning {
    fn stop(&mut self, how: Stop, grace: Duration) {
        lock(&self.ladder).request(how, grace, Instant::now());
        lock(&self.log).stops.push((self.name.clone(), how));
    }
}
