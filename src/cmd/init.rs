//! `sftpha init`: asks the day-zero questions (or takes them from flags, or the defaults with
//! `--yes`), writes a commented cluster.toml and users.toml, and assesses them.

use std::io::IsTerminal;
use std::path::Path;

use clap::{Args, ValueEnum};
use dialoguer::{Input, Select};

use crate::assess::{self, FailOn, Severity};
use crate::cmd::context::Context;
use crate::config::cluster::{Cluster, GatewayKind, Impact, Replication, StorageKind};
use crate::error::{exit, Error, Result};
use crate::init::{self, Answers};

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Name of the cluster.
    #[arg(long)]
    pub name: Option<String>,
    /// Impact of downtime; sets the default objectives.
    #[arg(long, value_enum)]
    pub impact: Option<ImpactArg>,
    /// Longest tolerable outage for new sessions (`60`, `60s`, `5m`; a number is seconds).
    #[arg(long, value_name = "DURATION", value_parser = seconds)]
    pub rto: Option<u64>,
    /// Longest tolerable loss of completed uploads (`0`, `15m`, `1d`; a number is seconds).
    #[arg(long, value_name = "DURATION", value_parser = seconds)]
    pub rpo: Option<u64>,
    /// Availability objective in percent, e.g. 99.95.
    #[arg(long, value_name = "PERCENT")]
    pub availability: Option<f64>,
    /// Concurrent SFTP sessions at peak.
    #[arg(long, value_name = "N")]
    pub peak_sessions: Option<u64>,
    /// Aggregate transfer rate at peak, in Mbit/s.
    #[arg(long, value_name = "MBPS")]
    pub peak_throughput: Option<f64>,
    /// Sessions one node may serve.
    #[arg(long, value_name = "N")]
    pub max_sessions: Option<u64>,
    /// Node hosts, comma-separated (named n1, n2, ... in order).
    #[arg(long, value_delimiter = ',', value_name = "HOSTS")]
    pub nodes: Vec<String>,
    /// The nodes' zones, comma-separated, in the order of --nodes (cycled when fewer).
    #[arg(long, value_delimiter = ',', value_name = "ZONES")]
    pub zones: Vec<String>,
    /// Kind of the shared storage.
    #[arg(long, value_enum)]
    pub storage_kind: Option<StorageKindArg>,
    /// Where the storage is mounted on every node.
    #[arg(long, value_name = "PATH")]
    pub storage_path: Option<String>,
    /// Copies the storage keeps.
    #[arg(long, value_name = "N")]
    pub replicas: Option<u32>,
    /// How the copies are kept.
    #[arg(long, value_enum)]
    pub replication: Option<ReplicationArg>,
    /// How far an asynchronous replica may be behind (`30s`, `5m`; a number is seconds).
    #[arg(long, value_name = "DURATION", value_parser = seconds)]
    pub replication_lag: Option<u64>,
    /// Time between backups of the storage (`1d`, `6h`; a number is seconds; 0: none).
    #[arg(long, value_name = "DURATION", value_parser = seconds)]
    pub backup_interval: Option<u64>,
    /// The load balancer in front of the nodes.
    #[arg(long, value_enum)]
    pub gateway_kind: Option<GatewayKindArg>,
    /// Gateway hosts, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "HOSTS")]
    pub gateway_hosts: Vec<String>,
    /// keepalived virtual IP for two or more gateway hosts ("" for none).
    #[arg(long, value_name = "IP")]
    pub vip: Option<String>,
    /// User sftpha logs into the hosts as.
    #[arg(long, value_name = "USER")]
    pub ssh_user: Option<String>,
    /// Private key for logging into the hosts.
    #[arg(long, value_name = "FILE")]
    pub identity: Option<String>,
    /// Overwrite cluster.toml and users.toml if they exist.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub common: crate::cmd::cli::ReportCommon,
    #[command(flatten)]
    pub yes: crate::cmd::cli::YesOpt,
}

macro_rules! value_enum_of {
    ($arg:ident => $model:ident { $($variant:ident),* }) => {
        #[derive(Debug, Clone, Copy, ValueEnum)]
        pub enum $arg { $($variant),* }
        impl From<$arg> for $model {
            fn from(a: $arg) -> Self {
                match a { $($arg::$variant => $model::$variant),* }
            }
        }
    };
}
value_enum_of!(ImpactArg => Impact { Critical, High, Moderate, Low });
value_enum_of!(StorageKindArg => StorageKind { Nfs, Smb, Cephfs, Glusterfs, Shared, Local });
value_enum_of!(ReplicationArg => Replication { None, Sync, Async });
value_enum_of!(GatewayKindArg => GatewayKind { Builtin, Haproxy, External });

pub fn run(ctx: &Context, args: &InitArgs) -> Result<u8> {
    let cluster_path = ctx.cluster_path().to_owned();
    let users_path = cluster_path
        .parent()
        .unwrap_or(Path::new("."))
        .join("users.toml");
    for path in [&cluster_path, &users_path] {
        if path.exists() && !args.force {
            return Err(Error::usage(
                format!("`{}` exists already", path.display()),
                Some("pass --force to overwrite it, or -c to write elsewhere"),
            ));
        }
    }
    let interactive = !ctx.yes && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let answers = if interactive {
        ask(args).map_err(|e| {
            Error::usage(
                format!("could not ask: {e}"),
                Some("pass --yes and flags instead"),
            )
        })?
    } else if ctx.yes {
        from_flags(args)
    } else {
        return Err(Error::usage(
            "no terminal to ask the questions on",
            Some("pass --yes to take the defaults for what flags do not answer"),
        ));
    };
    let text = init::cluster_toml(&answers);
    let cluster = Cluster::parse(&cluster_path, &text).map_err(|e| {
        Error::usage(
            format!("the answers do not make a valid cluster: {e}"),
            Some("see `sftpha init --help` for the flag of each answer"),
        )
    })?;
    if let Some(dir) = cluster_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| Error::WriteFile {
            path: dir.to_owned(),
            source,
        })?;
    }
    write_new(&cluster_path, &text, 0o644)?;
    // users.toml will hold password hashes: readable by its owner only.
    write_new(&users_path, &init::users_toml(), 0o600)?;
    tracing::info!(
        cluster = %cluster_path.display(),
        users = %users_path.display(),
        "wrote the cluster definition; assessing it"
    );
    let report = assess::assess(
        &cluster,
        Vec::new(),
        FailOn::At(Severity::High),
        false,
        crate::date::Date::today(),
    );
    crate::cmd::output::print_assessment(ctx, &report, &cluster)?;
    if ctx.chatty() {
        // On stderr: stdout is the assessment (JSON or Markdown may be piped to a file).
        eprint!("{}", next_steps(&cluster_path, &answers));
    }
    Ok(exit::OK)
}

/// What is still a placeholder, and the commands that take a new cluster.toml to a running,
/// tested cluster.
fn next_steps(cluster_path: &Path, answers: &init::Answers) -> String {
    let c = match cluster_path == Path::new("cluster.toml") {
        true => String::new(),
        false => format!(" -c {}", cluster_path.display()),
    };
    let mut s = String::new();
    let placeholders = answers.placeholders();
    if !placeholders.is_empty() {
        s += &format!(
            "\nplaceholders: {} are addresses from 198.18.0.0/15 (kept for tests, no real host \
             has one): put your hosts in {} before provisioning\n",
            placeholders.join(", "),
            cluster_path.display()
        );
    }
    s += &format!(
        "\nnext:\n  sftpha{c} users add NAME --key NAME.pub   who may log in\n  \
         sftpha{c} keys init                      the cluster's host keys and CA (back up keys/)\n  \
         sftpha{c} provision --dry-run            what would change on every host\n  \
         sftpha{c} provision --accept-new-host-keys   install and start everything\n  \
         sftpha lab up --dir /tmp/lab && sftpha test-failover --lab /tmp/lab   see a failover first\n"
    );
    s
}

fn write_new(path: &Path, text: &str, mode: u32) -> Result<()> {
    crate::files::write_atomically(path, text.as_bytes(), mode)
}

fn from_flags(args: &InitArgs) -> Answers {
    let mut a = Answers::default();
    if let Some(impact) = args.impact {
        a.impact = impact.into();
        (a.rto_seconds, a.rpo_seconds, a.availability_percent) = a.impact.objectives();
    }
    if let Some(v) = &args.name {
        a.name = v.clone();
    }
    if let Some(v) = args.rto {
        a.rto_seconds = v;
    }
    if let Some(v) = args.rpo {
        a.rpo_seconds = v;
    }
    if let Some(v) = args.availability {
        a.availability_percent = v;
    }
    if let Some(v) = args.peak_sessions {
        a.peak_sessions = v;
    }
    a.peak_throughput_mbps = args.peak_throughput.or(a.peak_throughput_mbps);
    if let Some(v) = args.max_sessions {
        a.max_sessions = v;
    }
    if !args.nodes.is_empty() {
        a.nodes = args.nodes.clone();
    }
    a.zones = init::zones_for(a.nodes.len(), &args.zones);
    if let Some(v) = args.storage_kind {
        a.storage_kind = v.into();
    }
    if let Some(v) = &args.storage_path {
        a.storage_path = v.clone();
    }
    if let Some(v) = args.replication {
        a.replication = v.into();
    }
    if let Some(v) = args.replicas {
        a.replicas = v;
    }
    // Keep the pair consistent when only one side was given.
    match (args.replicas, args.replication) {
        (Some(1), None) => a.replication = Replication::None,
        (None, Some(ReplicationArg::None)) => a.replicas = 1,
        _ => {}
    }
    if a.storage_kind == StorageKind::Local && args.replicas.is_none() {
        a.replicas = 1;
        a.replication = Replication::None;
    }
    if let Some(v) = args.replication_lag {
        a.replication_lag_seconds = v;
    }
    if let Some(v) = args.backup_interval {
        a.backup_interval_seconds = (v > 0).then_some(v);
    }
    if let Some(v) = args.gateway_kind {
        a.gateway_kind = v.into();
    }
    if !args.gateway_hosts.is_empty() {
        a.gateway_hosts = args.gateway_hosts.clone();
        if a.gateway_hosts.len() < 2 && args.vip.is_none() {
            a.vip = String::new();
        }
    }
    if a.gateway_kind == GatewayKind::External {
        a.gateway_hosts = args.gateway_hosts.clone();
        a.vip.clear();
    }
    if let Some(v) = &args.vip {
        a.vip = v.clone();
    }
    if let Some(v) = &args.ssh_user {
        a.ssh_user = v.clone();
    }
    if let Some(v) = &args.identity {
        a.identity = v.clone();
    }
    a
}

fn explain(text: &str) {
    eprintln!("\n{text}");
}

fn select<T: Copy>(prompt: &str, options: &[(T, &str)], default: usize) -> std::io::Result<T> {
    let labels: Vec<&str> = options.iter().map(|(_, l)| *l).collect();
    let i = Select::new()
        .with_prompt(prompt)
        .items(&labels)
        .default(default)
        .interact()
        .map_err(std::io::Error::other)?;
    Ok(options[i].0)
}

fn input<T>(prompt: &str, default: T) -> std::io::Result<T>
where
    T: Clone + ToString + std::str::FromStr,
    T::Err: ToString,
{
    Input::new()
        .with_prompt(prompt)
        .default(default)
        .interact_text()
        .map_err(std::io::Error::other)
}

fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The questionnaire on a terminal; flags already given are not asked again.
fn ask(args: &InitArgs) -> std::io::Result<Answers> {
    let mut a = from_flags(args);
    eprintln!("sftpha init: the day-zero questions. Enter takes the default in brackets.");
    if args.name.is_none() {
        a.name = input("Name of the cluster", a.name)?;
    }
    if args.impact.is_none() {
        explain("What happens to the business when file transfers stop? This sets the objectives below.");
        a.impact = select(
            "Impact of downtime",
            &[
                (
                    Impact::Critical,
                    "critical: money, patients or regulators are hurt within minutes",
                ),
                (
                    Impact::High,
                    "high: partners notice within the hour; contracts have penalties",
                ),
                (Impact::Moderate, "moderate: batches are late but catch up"),
                (
                    Impact::Low,
                    "low: transfers can wait for the next business day",
                ),
            ],
            1,
        )?;
        (a.rto_seconds, a.rpo_seconds, a.availability_percent) = a.impact.objectives();
    }
    if args.rto.is_none() {
        explain("RTO: the longest a client may be unable to start a session after a failure.");
        a.rto_seconds = input("RTO (60s, 5m, ...)", Seconds(a.rto_seconds))?.0;
    }
    if args.rpo.is_none() {
        explain("RPO: how much of already completed uploads the business can lose (0 = nothing).");
        a.rpo_seconds = input("RPO (0, 15m, ...)", Seconds(a.rpo_seconds))?.0;
    }
    if args.availability.is_none() {
        explain("Availability over a year: 99.9% allows ~8.8 h of downtime, 99.95% ~4.4 h, 99.99% ~53 min.");
        a.availability_percent =
            input("Availability objective in percent", a.availability_percent)?;
    }
    if args.peak_sessions.is_none() {
        explain("Peak load: concurrent SFTP sessions at the busiest hour (month end, the nightly batch).");
        a.peak_sessions = input("Peak concurrent sessions", a.peak_sessions)?;
    }
    if args.max_sessions.is_none() {
        a.max_sessions = input("Sessions one node may serve", a.max_sessions)?;
    }
    if args.nodes.is_empty() {
        explain("Node hosts: where the SFTP nodes run. Three give room for one down at peak.");
        a.nodes = list(&input("Node hosts, comma-separated", a.nodes.join(","))?);
        a.zones = init::zones_for(a.nodes.len(), &[]);
    }
    if args.zones.is_empty() {
        explain("Zones: the failure domain of each node (rack, room, availability zone), in node order.");
        a.zones = init::zones_for(
            a.nodes.len(),
            &list(&input("Zones, comma-separated", a.zones.join(","))?),
        );
    }
    if args.storage_kind.is_none() {
        explain("Storage: every node must see the same files, mounted at one path.");
        a.storage_kind = select(
            "Storage kind",
            &[
                (StorageKind::Nfs, "nfs: a NAS or NFS server"),
                (StorageKind::Cephfs, "cephfs"),
                (StorageKind::Glusterfs, "glusterfs"),
                (StorageKind::Smb, "smb"),
                (
                    StorageKind::Shared,
                    "shared: another file system every node mounts",
                ),
                (
                    StorageKind::Local,
                    "local: each node's own disk (nothing shared)",
                ),
            ],
            0,
        )?;
    }
    if args.storage_path.is_none() {
        a.storage_path = input("Storage mount path on every node", a.storage_path)?;
    }
    if a.storage_kind == StorageKind::Local {
        a.replicas = 1;
        a.replication = Replication::None;
    } else if args.replicas.is_none() {
        explain("Copies of the data: one NAS is a single point of failure; an HA pair or a replicated file system keeps two or more.");
        a.replicas = input("Copies the storage keeps", a.replicas)?;
        if a.replicas < 2 {
            a.replication = Replication::None;
        } else if args.replication.is_none() {
            a.replication = select(
                "How are the copies kept?",
                &[
                    (
                        Replication::Sync,
                        "sync: a write is on every copy before it is acknowledged (RPO 0)",
                    ),
                    (Replication::Async, "async: copies follow with a lag"),
                ],
                0,
            )?;
        }
    }
    if a.replication == Replication::Async && args.replication_lag.is_none() {
        a.replication_lag_seconds = input(
            "Replication lag (30s, 5m, ...)",
            Seconds(a.replication_lag_seconds.max(60)),
        )?
        .0;
    }
    if args.backup_interval.is_none() {
        let b = input(
            "Time between backups (1d, 6h, ...; 0: none)",
            Seconds(a.backup_interval_seconds.unwrap_or(0)),
        )?
        .0;
        a.backup_interval_seconds = (b > 0).then_some(b);
    }
    if args.gateway_kind.is_none() {
        explain("Gateway: what clients connect to; it spreads sessions and checks the nodes.");
        a.gateway_kind = select(
            "Load balancer",
            &[
                (
                    GatewayKind::Builtin,
                    "builtin: sftpha gateway (waits for the SSH banner; hung nodes cost no login)",
                ),
                (GatewayKind::Haproxy, "haproxy: configured by sftpha"),
                (
                    GatewayKind::External,
                    "external: a cloud or appliance balancer you run",
                ),
            ],
            0,
        )?;
    }
    if a.gateway_kind != GatewayKind::External {
        if args.gateway_hosts.is_empty() {
            explain("Gateway hosts: two with a virtual IP (keepalived) avoid a single point of failure.");
            a.gateway_hosts = list(&input(
                "Gateway hosts, comma-separated",
                a.gateway_hosts.join(","),
            )?);
        }
        if args.vip.is_none() {
            a.vip = if a.gateway_hosts.len() >= 2 {
                input("Virtual IP clients connect to", a.vip)?
            } else {
                String::new()
            };
        }
    } else {
        a.gateway_hosts.clear();
        a.vip.clear();
    }
    if args.ssh_user.is_none() {
        a.ssh_user = input("SSH user sftpha logs into the hosts as", a.ssh_user)?;
    }
    if args.identity.is_none() {
        a.identity = input("Its private key", a.identity)?;
    }
    Ok(a)
}

/// A duration flag as whole seconds.
/// A duration answered at a prompt: `90`, `90s`, `5m`, `1d`; shown with its unit.
#[derive(Clone, Copy)]
struct Seconds(u64);

impl std::str::FromStr for Seconds {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Seconds, String> {
        seconds(text).map(Seconds)
    }
}

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            0 => write!(f, "0"),
            s if s % 86_400 == 0 => write!(f, "{}d", s / 86_400),
            s if s % 3600 == 0 => write!(f, "{}h", s / 3600),
            s if s % 60 == 0 => write!(f, "{}m", s / 60),
            s => write!(f, "{s}s"),
        }
    }
}

fn seconds(text: &str) -> std::result::Result<u64, String> {
    crate::text::parse_duration(text).map(|d| d.as_secs())
}
