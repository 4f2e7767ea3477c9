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
    /// The cluster definition (commands that read one: init, assess, provision, status, users,
    /// keys, upgrade, inventory).
    #[arg(
        short = 'c',
        long,
        global = true,
        default_value = "cluster.toml",
        env = "SFTPHA_CLUSTER",
        value_name = "PATH",
        help_heading = "Global options"
    )]
    pub cluster: PathBuf,

    /// Output format of results (human on a terminal, JSON otherwise; markdown: assess and
    /// init).
    #[arg(long, global = true, value_enum, help_heading = "Global options")]
    pub format: Option<Format>,

    /// More log output (-v: debug, -vv: trace).
    #[arg(short, long, global = true, action = ArgAction::Count, help_heading = "Global options")]
    pub verbose: u8,

    /// Less log output (-q: warnings and errors only, -qq: errors only).
    #[arg(
        short,
        long,
        global = true,
        action = ArgAction::Count,
        conflicts_with = "verbose",
        help_heading = "Global options"
    )]
    pub quiet: u8,

    /// Never prompt; take the default answer.
    #[arg(long, global = true, help_heading = "Global options")]
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
    #[command(
        after_help = "Examples:\n  sftpha init                                   asks the questions on a terminal\n  sftpha init --yes --name acme --nodes 10.0.1.11,10.0.1.12,10.0.1.13 --zones a,b,c\n  sftpha init --yes --format markdown > design.md"
    )]
    Init(Box<cmd::init::InitArgs>),
    /// Risk assessment of cluster.toml: single points of failure, RTO and RPO per
    /// disruption, availability, capacity with a node down; --probe checks the live hosts.
    ///
    /// Exit 1 when a finding reaches --fail-on (default high), so it gates CI.
    #[command(
        after_help = "Examples:\n  sftpha assess                                 the report for ./cluster.toml\n  sftpha -c prod/cluster.toml assess --fail-on medium\n  sftpha assess --probe                         also checks the live hosts\n  sftpha assess --format markdown > assessment.md"
    )]
    Assess(cmd::assess::AssessArgs),
    /// Makes every host what cluster.toml says, over SSH: configs from the templates, one host
    /// key set, users, the sftpha binary, services; then verifies the cluster from outside.
    ///
    /// Idempotent: a second run changes nothing. Exit 4 if any host failed (the others are
    /// still done and reported).
    #[command(
        after_help = "Examples:\n  sftpha provision --dry-run                    what would change, host by host\n  sftpha provision --accept-new-host-keys       first run: record the hosts' SSH keys\n  sftpha provision --only n2,gw1                some hosts only"
    )]
    Provision(cmd::provision::ProvisionArgs),
    /// Users of the cluster: edits users.toml (comments kept) and pushes it to every node,
    /// which reloads without a restart; every node is checked to accept (or refuse) the keys.
    /// Exit 4 if a node did not take it.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  sftpha users add bank --key bank.pub --home partners/bank\n  sftpha users add lab --password < password.txt\n  sftpha users set-key bank --remove-key SHA256:...\n  sftpha users list"
    )]
    Users(cmd::users::UsersCommand),
    /// The cluster's keys: host CA and known_hosts lines, user and host key rotation with no
    /// failed login.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  sftpha keys known-hosts --ca >> ~/.ssh/known_hosts\n  sftpha keys rotate user bank --key new.pub --grace 7d\n  sftpha keys rotate host                       then, once clients have the new lines:\n  sftpha keys rotate host --finish"
    )]
    Keys(cmd::keys::KeysCommand),
    /// Imports an existing server into the cluster: users, keys and host keys, so partners
    /// change nothing.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  sftpha import openssh --host sftp.example.com --dry-run\n  sftpha import openssh --host sftp.example.com --skip olduser\n  sftpha provision                              then installs what was imported"
    )]
    Import(cmd::import::ImportCommand),
    /// Replaces the sftpha binary on every node, one node at a time (drain, swap, start,
    /// healthy with the same host key), with no failed login through the gateway.
    #[command(
        after_help = "Examples:\n  sftpha upgrade --dry-run\n  sftpha upgrade --node-binary ./target/release/sftpha"
    )]
    Upgrade(cmd::upgrade::UpgradeArgs),
    /// Live health of every node and gateway, and drift from the desired state (which file
    /// differs where). Exit 1 if anything is unhealthy or drifted.
    #[command(
        after_help = "Examples:\n  sftpha status\n  sftpha status --format json | jq '.nodes[] | {name, healthy, drift}'"
    )]
    Status(cmd::status::StatusArgs),
    /// Prints the cluster as an Ansible dynamic inventory (JSON) for playbooks/provision.yml:
    /// every host with the variables the templates need.
    #[command(
        after_help = "Examples:\n  sftpha inventory --list\n  SFTPHA_CLUSTER=cluster.toml ansible-playbook -i playbooks/inventory.sh playbooks/provision.yml"
    )]
    Inventory(cmd::inventory::InventoryArgs),
    /// The bundled SFTP server.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  sftpha node check --config /etc/sftpha/node.toml\n  sftpha node run --config /etc/sftpha/node.toml"
    )]
    Node(cmd::node::NodeCommand),
    /// The bundled TCP gateway (load balancer with health checks).
    #[command(subcommand)]
    #[command(after_help = "Examples:\n  sftpha gateway run --config /etc/sftpha/gateway.toml")]
    Gateway(cmd::gateway::GatewayCommand),
    /// A whole cluster on 127.0.0.1: nodes, gateway, shared storage, a demo user.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  sftpha lab up --dir /tmp/lab                  3 nodes, a gateway, a demo user\n  sftpha lab status --dir /tmp/lab\n  sftpha test-failover --lab /tmp/lab --fault freeze\n  sftpha lab down --dir /tmp/lab"
    )]
    Lab(cmd::lab::LabCommand),
    /// Failover smoke test: workload, fault, detection and recovery measured, data verified.
    #[command(
        after_help = "Examples:\n  sftpha test-failover --lab /tmp/lab\n  sftpha test-failover --lab /tmp/lab --fault freeze --clients 16 --duration 30\n  sftpha test-failover --lab /tmp/lab --junit failover.xml   for CI"
    )]
    TestFailover(cmd::test_failover::TestFailoverArgs),
    /// Prints shell completions.
    #[command(
        after_help = "Where the file goes:\n  bash    sftpha completions bash > ~/.local/share/bash-completion/completions/sftpha\n  zsh     sftpha completions zsh > ~/.zfunc/_sftpha   (with fpath+=~/.zfunc before compinit)\n  fish    sftpha completions fish > ~/.config/fish/completions/sftpha.fish\n  elvish  sftpha completions elvish >> ~/.config/elvish/rc.elv"
    )]
    Completions(cmd::completions::Args),
    /// Prints the man page (roff).
    #[command(
        after_help = "Examples:\n  sftpha man > /usr/local/share/man/man1/sftpha.1 && man sftpha"
    )]
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

impl PushArgs {
    /// The push these flags ask for; progress lines when the command shows them.
    pub fn push(&self, progress: bool) -> crate::provision::push::Push {
        crate::provision::push::Push {
            no_push: self.no_push,
            accept_new_host_keys: self.accept_new_host_keys,
            progress,
        }
    }
}
