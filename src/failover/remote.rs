//! Faults on a provisioned cluster's node hosts, over SSH (the provisioning client, with its
//! known_hosts rules), each one undone for sure.
//!
//! Injecting writes an undo script on the host (`STATE_DIR/failover-RUN.undo`) and starts a
//! dead-man timer there, detached from the SSH session (`setsid`), before the fault itself:
//! when the fault window ends the timer runs the undo script unless it is gone. Whoever undoes
//! first (the run, Ctrl-C, the timer) takes the script by renaming it, so it runs once. So a
//! fault cannot outlive the run by more than its window even when test-failover is killed or
//! loses its SSH connection; the operator's SSH path stays open through a partition (the
//! nftables rules exempt the SSH connection they were set up through).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::fault::{Fault, Injected, Injector};
use crate::config::cluster::Cluster;
use crate::error::{FailoverError, Result};
use crate::ssh::remote::{quote, Access};

/// The nftables table a partition adds (and the undo deletes).
pub const PARTITION_TABLE: &str = "sftpha_failover";

/// Injects faults on node hosts over SSH.
pub struct RemoteInjector {
    access: Arc<Access>,
    /// Node name to its host.
    hosts: HashMap<String, String>,
    state_dir: String,
    /// How long a fault may stay after injection before the host undoes it by itself.
    window: Duration,
    /// This run's name on the host (`failover-PID`).
    run: String,
    /// The script that brings the node service up (`ensure`), as provision runs it.
    start_node: String,
    /// The same for the gateway service (builtin or HAProxy).
    start_gateway: String,
    /// The gateway's systemd unit and pidfile name (`sftpha-gateway`/`gateway`, or HAProxy's).
    gateway_unit: (&'static str, &'static str),
    handle: tokio::runtime::Handle,
}

impl RemoteInjector {
    /// For `cluster`, reached with `access`; a fault is undone by its host at the latest
    /// `window` after it was injected.
    pub fn new(
        cluster: &Cluster,
        access: Arc<Access>,
        window: Duration,
        start_node: String,
        start_gateway: String,
    ) -> RemoteInjector {
        RemoteInjector {
            access,
            hosts: cluster
                .node_addrs()
                .into_iter()
                .map(|n| (n.name, n.host))
                .collect(),
            state_dir: cluster.file.node.state_dir.display().to_string(),
            window,
            run: format!("failover-{}", std::process::id()),
            start_node,
            start_gateway,
            gateway_unit: match cluster.gateway {
                crate::config::cluster::Gateway::Haproxy(_) => ("haproxy", "haproxy"),
                _ => ("sftpha-gateway", "gateway"),
            },
            handle: tokio::runtime::Handle::current(),
        }
    }

    /// The shell that finds a service's process id (systemd's main pid, else sftpha's
    /// pidfile `STATE_DIR/NAME.pid`).
    fn service_pid(&self, unit: &str, name: &str) -> String {
        format!(
            "if [ -d /run/systemd/system ] && systemctl is-active --quiet {unit} 2>/dev/null; then pid=$(systemctl show -p MainPID --value {unit}); else pid=$(cat {} 2>/dev/null); fi\n[ -n \"$pid\" ] && [ \"$pid\" != 0 ] && kill -0 \"$pid\" 2>/dev/null || {{ echo 'no running {name} process on this host' >&2; exit 1; }}\n",
            quote(&format!("{}/{name}.pid", self.state_dir))
        )
    }

    /// The script that injects `fault`: undo script and dead-man timer first, then the fault;
    /// prints what it did (`pid 4242`).
    fn script(&self, fault: Fault) -> String {
        let undo_file = format!("{}/{}.undo", self.state_dir, self.run);
        let wait_gone = "i=0; while kill -0 \"$pid\" 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\n";
        let (undo, act, what) = match fault {
            Fault::Freeze => (
                "kill -CONT \"$pid\" && echo \"resumed pid $pid\"\n".to_owned(),
                "kill -STOP \"$pid\"",
                "pid $pid frozen",
            ),
            Fault::Kill => (
                format!("{wait_gone}{}\n", self.start_node),
                "kill -KILL \"$pid\"",
                "pid $pid killed",
            ),
            Fault::Drain => (
                format!("{wait_gone}{}\n", self.start_node),
                "kill -TERM \"$pid\"",
                "pid $pid draining",
            ),
            Fault::GatewayKill => (
                format!("{wait_gone}{}\n", self.start_gateway),
                "kill -KILL \"$pid\"",
                "gateway pid $pid killed",
            ),
            Fault::Partition | Fault::GatewayPartition => (
                format!(
                    "nft delete table inet {PARTITION_TABLE} && echo 'partition rules removed'\n"
                ),
                "partition",
                "cut off but for $op port $port",
            ),
        };
        let mut s = String::from("set -u\numask 077\n");
        match fault {
            Fault::Partition | Fault::GatewayPartition => s += &partition_rules(),
            Fault::GatewayKill if self.gateway_unit.1 == "gateway" => {
                // The process that serves the connections: the supervisor's worker (under
                // systemd too), else a gateway started before there were supervisors.
                s += &format!(
                    "pid=$(cat {} 2>/dev/null)\nif ! {{ [ -n \"$pid\" ] && kill -0 \"$pid\" 2>/dev/null && tr '\\0' ' ' < /proc/$pid/cmdline | grep -q -- 'gateway run'; }}; then\n{}fi\n",
                    quote(&format!("{}/gateway-worker.pid", self.state_dir)),
                    self.service_pid(self.gateway_unit.0, self.gateway_unit.1)
                )
            }
            Fault::GatewayKill => s += &self.service_pid(self.gateway_unit.0, self.gateway_unit.1),
            _ => s += &self.service_pid("sftpha-node", "node"),
        }
        // The undo script, with this moment's pid written in (the rest taken as it is).
        s += &format!(
            "undo={}\nprintf 'pid=%s\\n' \"$pid\" > \"$undo\"\ncat >> \"$undo\" <<'SFTPHA_UNDO'\n{undo}SFTPHA_UNDO\n",
            quote(&undo_file),
        );
        s += &format!(
            "setsid sh -c 'sleep {}; mv \"$0\" \"$0.taken\" 2>/dev/null && sh \"$0.taken\"; rm -f \"$0.taken\"' \"$undo\" </dev/null >/dev/null 2>&1 &\n",
            self.window.as_secs().max(1)
        );
        if matches!(fault, Fault::Partition | Fault::GatewayPartition) {
            s += "nft -f \"$rules\" || { rm -f \"$undo\"; exit 1; }\nrm -f \"$rules\"\n";
        } else {
            s += &format!("{act} || {{ rm -f \"$undo\"; exit 1; }}\n");
        }
        s += &format!("echo \"{what}\"\n");
        s
    }
}

/// Rules that cut the host off every peer but the SSH connection they come through (its
/// client address and the server's port, from `$SSH_CONNECTION`); sets `$rules`, `$op` and
/// `$port` and a `pid` of none.
fn partition_rules() -> String {
    format!(
        r#"command -v nft >/dev/null || {{ echo 'nft (nftables) is not installed on this host: a partition needs it' >&2; exit 1; }}
set -- $SSH_CONNECTION
op=$1; port=$4; pid=none
family=ip; case "$op" in *:*) family=ip6;; esac
rules=$(mktemp)
cat > "$rules" <<SFTPHA_RULES
table inet {PARTITION_TABLE} {{
  chain input {{
    type filter hook input priority -300; policy drop;
    iif lo accept
    $family saddr $op tcp dport $port accept
  }}
  chain output {{
    type filter hook output priority -300; policy drop;
    oif lo accept
    $family daddr $op tcp sport $port accept
  }}
}}
SFTPHA_RULES
nft delete table inet {PARTITION_TABLE} 2>/dev/null
"#
    )
}

impl Injector for RemoteInjector {
    fn inject<'a>(
        &'a self,
        node: &'a str,
        fault: Fault,
    ) -> futures::future::BoxFuture<'a, Result<Box<dyn Injected>>> {
        Box::pin(async move {
            // A gateway fault names the gateway's host itself.
            let host = match fault.on_gateway() {
                true => node.to_owned(),
                false => self
                    .hosts
                    .get(node)
                    .cloned()
                    .ok_or_else(|| FailoverError::Inject(format!("`{node}` is not a node")))?,
            };
            let host = &host;
            let fail = |e: String| FailoverError::Inject(format!("{node} on {host}: {e}"));
            let remote = self
                .access
                .connect(host)
                .await
                .map_err(|e| fail(e.to_string()))?;
            let out = remote
                .exec(
                    &format!("inject {} on {node}", fault.name()),
                    &self.script(fault),
                    None,
                    None,
                )
                .await;
            remote.close().await;
            let out = out.map_err(|e| fail(e.to_string()))?;
            if out.status != 0 {
                return Err(fail(out.complaint()).into());
            }
            Ok(Box::new(RemoteFault {
                access: self.access.clone(),
                host: host.clone(),
                node: node.to_owned(),
                what: format!("{} on {host}", out.stdout_text().trim()),
                undo_file: format!("{}/{}.undo", self.state_dir, self.run),
                handle: self.handle.clone(),
            }) as Box<dyn Injected>)
        })
    }
}

/// A fault in force on one host.
struct RemoteFault {
    access: Arc<Access>,
    host: String,
    node: String,
    what: String,
    undo_file: String,
    handle: tokio::runtime::Handle,
}

impl Injected for RemoteFault {
    fn node(&self) -> &str {
        &self.node
    }

    fn what(&self) -> String {
        self.what.clone()
    }

    /// Takes the undo script and runs it (a new SSH connection: the one that injected may be
    /// gone); when the host's timer took it first, says so.
    fn undo(&self) -> Result<String> {
        let script = format!(
            "undo={}\nif mv \"$undo\" \"$undo.taken\" 2>/dev/null; then sh \"$undo.taken\"; status=$?; rm -f \"$undo.taken\"; exit $status; else echo 'already undone by the host (dead-man timer)'; fi\n",
            quote(&self.undo_file)
        );
        let access = self.access.clone();
        let host = self.host.clone();
        let node = self.node.clone();
        let run = async move {
            let remote = access
                .connect(&host)
                .await
                .map_err(|e| FailoverError::Restore(format!("{node} on {host}: {e}")))?;
            let out = remote
                .exec(
                    &format!("undo the fault on {node}"),
                    &script,
                    None,
                    Some(Duration::from_secs(90)),
                )
                .await;
            remote.close().await;
            let out = out.map_err(|e| FailoverError::Restore(format!("{node} on {host}: {e}")))?;
            if out.status != 0 {
                return Err(FailoverError::Restore(format!(
                    "{node} on {host}: {}",
                    out.complaint()
                ))
                .into());
            }
            let said = out.stdout_text();
            let said = said.lines().last().unwrap_or("undone").trim().to_owned();
            Ok(format!("{node} ({host}): {said}"))
        };
        // Called off the runtime's threads (a blocking task, or after the run).
        match tokio::runtime::Handle::try_current() {
            Ok(_) => tokio::task::block_in_place(|| self.handle.block_on(run)),
            Err(_) => self.handle.block_on(run),
        }
    }
}
