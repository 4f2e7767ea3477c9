//! The command line: global options and the command tree (clap derive). The `///` comments
//! are the `--help` text, the man page and the shell completions.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::cmd;

/// Build, run and prove an active-active, highly available SFTP cluster.
///
/// Exit codes: 0 ok; 1 a check failed; 2 usage or configuration error; 3 could not reach or
/// log into a host; 4 provisioning failed on at least one host.
#[derive(Debug, Parser)]
#[command(
    name = "sftpha",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// The cluster definition.
    #[arg(
        short = 'c',
        long,
        global = true,
        default_value = "cluster.toml",
        value_name = "PATH"
    )]
    pub cluster: PathBuf,

    /// Output format of results (human on a terminal).
    #[arg(long, global = true, value_enum)]
    pub format: Option<Format>,

    /// More log output (-v: debug, -vv: trace).
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,

    /// Less log output (-q: warnings and errors only, -qq: errors only).
    #[arg(short, long, global = true, action = ArgAction::Count, conflicts_with = "verbose")]
    pub quiet: u8,

    /// Never prompt; take the default answer.
    #[arg(long, global = true)]
    pub yes: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
    /// A report for a change ticket (`assess` and `init` only).
    Markdown,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Asks the day-zero questions and writes a commented cluster.toml and users.toml.
    Init(Box<cmd::init::InitArgs>),
    /// Risk assessment of cluster.toml: single points of failure, RTO and RPO per
    /// disruption, availability, capacity with a node down; --probe checks the live hosts.
    ///
    /// Exit 1 when a finding reaches --fail-on (default high), so it gates CI.
    Assess(cmd::assess::AssessArgs),
    /// Makes every host what cluster.toml says, over SSH: configs from the templates, one host
    /// key set, users, the sftpha binary, services; then verifies the cluster from outside.
    ///
    /// Idempotent: a second run changes nothing. Exit 4 if any host failed (the others are
    /// still done and reported).
    Provision(cmd::provision::ProvisionArgs),
    /// Users of the cluster: edits users.toml (comments kept) and pushes it to every node,
    /// which reloads without a restart; every node is checked to accept (or refuse) the keys.
    /// Exit 4 if a node did not take it.
    #[command(subcommand)]
    Users(cmd::users::UsersCommand),
    /// The cluster's keys: host CA and known_hosts lines, user and host key rotation with no
    /// failed login.
    #[command(subcommand)]
    Keys(cmd::keys::KeysCommand),
    /// Replaces the sftpha binary on every node, one node at a time (drain, swap, start,
    /// healthy with the same host key), with no failed login through the gateway.
    Upgrade(cmd::upgrade::UpgradeArgs),
    /// Live health of every node and gateway, and drift from the desired state (which file
    /// differs where). Exit 1 if anything is unhealthy or drifted.
    Status(cmd::status::StatusArgs),
    /// Prints the cluster as an Ansible dynamic inventory (JSON) for playbooks/provision.yml:
    /// every host with the variables the templates need.
    Inventory(cmd::inventory::InventoryArgs),
    /// The bundled SFTP server.
    #[command(subcommand)]
    Node(cmd::node::NodeCommand),
    /// The bundled TCP gateway (load balancer with health checks).
    #[command(subcommand)]
    Gateway(cmd::gateway::GatewayCommand),
    /// A whole cluster on 127.0.0.1: nodes, gateway, shared storage, a demo user.
    #[command(subcommand)]
    Lab(cmd::lab::LabCommand),
    /// Failover smoke test: workload, fault, detection and recovery measured, data verified.
    TestFailover(cmd::test_failover::TestFailoverArgs),
    /// Prints shell completions.
    Completions(cmd::completions::Args),
    /// Prints the man page (roff).
    Man(cmd::man::Args),
}

impl Cli {
    /// Resolves `--format`: human on a terminal, JSON otherwise unless asked.
    pub fn format(&self) -> Format {
        use std::io::IsTerminal;
        self.format.unwrap_or(if std::io::stdout().is_terminal() {
            Format::Human
        } else {
            Format::Json
        })
    }
}

/// How a users or keys command pushes users.toml.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Only edit users.toml; do not push (`sftpha provision` pushes it later).
    #[arg(long)]
    pub no_push: bool,
    /// Record the SSH host keys of hosts not yet in the cluster's known_hosts.
    #[arg(long)]
    pub accept_new_host_keys: bool,
}
