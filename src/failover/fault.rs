//! Faults test-failover injects, and how they are undone: the [`Injector`] trait, and its
//! implementation for the lab's processes.

use std::time::{Duration, Instant};

use super::RESTORE_TIMEOUT;
use crate::error::{Error, LabError, Result};
use crate::lab::Lab;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Fault {
    /// SIGKILL the node process.
    Kill,
    /// SIGSTOP it (the kernel still accepts TCP); SIGCONT when restoring.
    Freeze,
    /// Cut the host off the network (needs separate hosts: a provisioned cluster).
    Partition,
    /// SIGTERM: the node drains gracefully.
    Drain,
}

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::Freeze => "freeze",
            Fault::Partition => "partition",
            Fault::Drain => "drain",
        }
    }
}

/// Injects faults on the nodes of the cluster under test. The run does not know how: the
/// lab's implementation signals local processes; the cluster's
/// ([`super::remote::RemoteInjector`]) works over SSH, with a dead-man timer on the host that
/// undoes the fault by itself.
pub trait Injector: Send + Sync {
    /// Injects `fault` on `node` now; what is in force until undone.
    fn inject<'a>(
        &'a self,
        node: &'a str,
        fault: Fault,
    ) -> futures::future::BoxFuture<'a, Result<Box<dyn Injected>>>;
}

/// A fault in force: undone once, from whatever way the run ends.
pub trait Injected: Send + Sync {
    fn node(&self) -> &str;
    /// What was done, for the report (`pid 4242`).
    fn what(&self) -> String;
    /// Undoes the fault (blocking); says what it did.
    fn undo(&self) -> Result<String>;
}

/// Faults on a lab's node processes, by signal.
pub struct LabInjector {
    lab: Lab,
}

impl LabInjector {
    pub fn new(lab: Lab) -> LabInjector {
        LabInjector { lab }
    }
}

impl Injector for LabInjector {
    fn inject<'a>(
        &'a self,
        node: &'a str,
        fault: Fault,
    ) -> futures::future::BoxFuture<'a, Result<Box<dyn Injected>>> {
        Box::pin(async move { self.signal(node, fault) })
    }
}

impl LabInjector {
    fn signal(&self, node: &str, fault: Fault) -> Result<Box<dyn Injected>> {
        let signal = match fault {
            Fault::Kill => rustix::process::Signal::KILL,
            Fault::Freeze => rustix::process::Signal::STOP,
            Fault::Drain => rustix::process::Signal::TERM,
            Fault::Partition => {
                return Err(Error::usage(
                    "`--fault partition` needs separate hosts; lab nodes share 127.0.0.1",
                    Some("use kill, freeze or drain on a lab"),
                ))
            }
        };
        let pid = self.lab.signal(node, signal)?;
        Ok(Box::new(LabFault {
            dir: self.lab.dir.clone(),
            node: node.to_owned(),
            fault,
            pid,
        }))
    }
}

/// A fault in force on one lab node.
#[derive(Debug, Clone)]
struct LabFault {
    dir: std::path::PathBuf,
    node: String,
    fault: Fault,
    pid: u32,
}

impl Injected for LabFault {
    fn node(&self) -> &str {
        &self.node
    }

    fn what(&self) -> String {
        format!("pid {}", self.pid)
    }

    /// Resumes a frozen node, starts a killed or drained one again on its ports (lab.json
    /// follows its new pid).
    fn undo(&self) -> Result<String> {
        let lab = Lab::open(&self.dir)?;
        let node = &self.node;
        match self.fault {
            Fault::Freeze => {
                lab.signal(node, rustix::process::Signal::CONT)?;
                Ok(format!("{node} resumed (SIGCONT to pid {})", self.pid))
            }
            Fault::Kill | Fault::Drain => {
                // A draining node exits by itself; wait for that before starting it again.
                let deadline = Instant::now() + RESTORE_TIMEOUT;
                while lab.running_pid(node).is_some() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(50));
                }
                if let Some(pid) = lab.running_pid(node) {
                    return Err(LabError::StillRunning {
                        node: node.to_owned(),
                        pid,
                        seconds: RESTORE_TIMEOUT.as_secs(),
                    }
                    .into());
                }
                let ready = lab.start(node)?;
                lab.write_lab_file()?;
                Ok(format!("{node} started again (pid {})", ready.pid))
            }
            Fault::Partition => unreachable!("never injected on a lab"),
        }
    }
}
