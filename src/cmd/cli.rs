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
    max_term_width = 100,
    after_help = "Start here:\n  sftpha lab up --dir /tmp/lab          a whole cluster on 127.0.0.1, to try it\n  sftpha init                           the day-zero questions: cluster.toml and users.toml\n  sftpha assess                         the risk assessment of ./cluster.toml\n  sftpha COMMAND --help                 each command's options and examples",
    after_long_help = "Start here:\n  sftpha lab up --dir /tmp/lab          a whole cluster on 127.0.0.1, to try it\n  sftpha init                           the day-zero questions: cluster.toml and users.toml\n  sftpha assess                         the risk assessment of ./cluster.toml\n  sftpha COMMAND --help                 each command's options and examples\n\nFiles: every key of cluster.toml, node.toml, gateway.toml and users.toml, with its type,\ndefault and meaning, is in sftpha-cluster.toml(5), sftpha-node.toml(5), sftpha-gateway.toml(5)\nand sftpha-users.toml(5): `sftpha man cluster.toml | man -l -`."
)]
pub struct Cli {
    /// The cluster definition, for the commands that read one (they take `-c` after their
    /// name too, and `$SFTPHA_CLUSTER`).
    #[arg(
        short = 'c',
        long,
        value_name = "PATH",
        help_heading = "Global options"
    )]
    pub cluster: Option<PathBuf>,

    /// Output format, for the commands that print a report (they take `--format` after their
    /// name too; markdown: assess and init only).
    #[arg(long, value_enum, help_heading = "Global options")]
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

    /// Colours in log lines: auto (a terminal without `NO_COLOR`), always, never.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "auto",
        value_name = "WHEN",
        help_heading = "Global options"
    )]
    pub color: ColorChoice,

    /// Never prompt; take the default answer (for the commands that ask: init).
    #[arg(long, help_heading = "Global options")]
    pub yes: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
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
    #[command(
        after_help = "Examples:\n  sftpha users add bank --key bank.pub --home partners/bank\n  sftpha users add lab --password < password.txt\n  sftpha users set-key bank --remove-key SHA256:...\n  sftpha users list"
    )]
    Users(cmd::users::UsersArgs),
    /// The cluster's keys: host CA and known_hosts lines, user and host key rotation with no
    /// failed login.
    #[command(
        after_help = "Examples:\n  sftpha keys known-hosts --ca >> ~/.ssh/known_hosts\n  sftpha keys rotate user bank --key new.pub --grace 7d\n  sftpha keys rotate host                       then, once clients have the new lines:\n  sftpha keys rotate host --finish"
    )]
    Keys(cmd::keys::KeysArgs),
    /// Imports an existing server into the cluster: users, keys and host keys, so partners
    /// change nothing.
    #[command(
        after_help = "Examples:\n  sftpha import openssh --host sftp.example.com --dry-run\n  sftpha import openssh --host sftp.example.com --skip olduser\n  sftpha provision                              then installs what was imported"
    )]
    Import(cmd::import::ImportArgs),
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
        after_help = "Where the file goes:\n  bash    sftpha completions bash > ~/.local/share/bash-completion/completions/sftpha\n  zsh     sftpha completions zsh > ~/.zfunc/_sftpha   (with fpath+=~/.zfunc before compinit)\n  fish    sftpha completions fish > ~/.config/fish/completions/sftpha.fish\n  elvish  sftpha completions elvish >> ~/.config/elvish/rc.elv\n  powershell  sftpha completions powershell >> $PROFILE"
    )]
    Completions(cmd::completions::Args),
    /// Prints a man page (roff): sftpha(1), a command's, or a file format's.
    #[command(
        after_help = "Examples:\n  sftpha man > /usr/local/share/man/man1/sftpha.1 && man sftpha\n  sftpha man users add | man -l -\n  sftpha man cluster.toml | man -l -              every key of cluster.toml\n  sftpha man --list"
    )]
    Man(cmd::man::Args),
}

/// `-c` of a command that reads cluster.toml.
#[derive(Debug, Args)]
pub struct ClusterOpt {
    /// The cluster definition.
    #[arg(
        short = 'c',
        long = "cluster",
        id = "cluster",
        default_value = "cluster.toml",
        env = "SFTPHA_CLUSTER",
        value_name = "PATH"
    )]
    pub path: PathBuf,
}

/// `--format` of a command that prints a report.
#[derive(Debug, Args)]
pub struct FormatOpt {
    /// Output format [default: human on a terminal, JSON otherwise].
    #[arg(long = "format", id = "format", value_name = "FORMAT", value_parser = plain_format())]
    pub format: Option<Format>,
}

/// `--format` of a command whose report also reads well as Markdown (assess, init).
#[derive(Debug, Args)]
pub struct ReportFormatOpt {
    /// Output format [default: human on a terminal, JSON otherwise]; markdown for a change
    /// ticket.
    #[arg(long = "format", id = "format", value_name = "FORMAT", value_enum)]
    pub format: Option<Format>,
}

/// `-c` and `--format`: what most commands take.
#[derive(Debug, Args)]
pub struct Common {
    #[command(flatten)]
    pub cluster: ClusterOpt,
    #[command(flatten)]
    pub format: FormatOpt,
}

/// `-c` and `--format` with markdown (assess, init).
#[derive(Debug, Args)]
pub struct ReportCommon {
    #[command(flatten)]
    pub cluster: ClusterOpt,
    #[command(flatten)]
    pub format: ReportFormatOpt,
}

/// `--yes` of a command that asks questions.
#[derive(Debug, Args)]
pub struct YesOpt {
    /// Never prompt; take the default answer.
    #[arg(long = "yes", id = "yes")]
    pub yes: bool,
}

/// `human` or `json`: the formats of every report.
fn plain_format() -> impl clap::builder::TypedValueParser<Value = Format> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(["human", "json"])
        .map(|s| Format::from_str(&s, false).expect("a possible value"))
}

/// The options that act on the whole command, wherever they were given: after the command's
/// name (`sftpha assess -c prod.toml`) or before it (`sftpha -c prod.toml assess`); after
/// wins. A command that has no such option ignores the one before it.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub cluster: PathBuf,
    /// `--format` as given, `None` when left to the terminal.
    pub format: Option<Format>,
    pub yes: bool,
    pub quiet: u8,
    pub color: bool,
}

impl Resolved {
    pub fn new(cli: &Cli, matches: &clap::ArgMatches) -> Resolved {
        use clap::parser::ValueSource;
        // The command's own matches, outermost first (`users`, then `users add`).
        let mut chain = Vec::new();
        let mut at = matches;
        while let Some((_, sub)) = at.subcommand() {
            chain.push(sub);
            at = sub;
        }
        let given = |m: &&clap::ArgMatches, id: &str| {
            m.try_contains_id(id).unwrap_or(false)
                && m.value_source(id) == Some(ValueSource::CommandLine)
        };
        let last_given = |id: &str| chain.iter().rev().find(|m| given(m, id)).copied();
        let own_cluster = chain
            .iter()
            .rev()
            .find_map(|m| m.try_get_one::<PathBuf>("cluster").ok().flatten());
        let cluster = match (last_given("cluster"), &cli.cluster, own_cluster) {
            (Some(m), _, _) => m.get_one::<PathBuf>("cluster").expect("given").clone(),
            (None, Some(before), _) => before.clone(),
            (None, None, Some(own)) => own.clone(),
            (None, None, None) => PathBuf::from("cluster.toml"),
        };
        let format = match last_given("format") {
            Some(m) => m.get_one::<Format>("format").copied(),
            None => cli.format,
        };
        let leaf = chain.last().copied().unwrap_or(matches);
        let yes = cli.yes || leaf.try_get_one::<bool>("yes").ok().flatten() == Some(&true);
        Resolved {
            cluster,
            format,
            yes,
            quiet: cli.quiet,
            color: color(cli.color),
        }
    }

    /// `--format` resolved: human on a terminal, JSON otherwise unless asked.
    pub fn format(&self) -> Format {
        use std::io::IsTerminal;
        self.format.unwrap_or(if std::io::stdout().is_terminal() {
            Format::Human
        } else {
            Format::Json
        })
    }
}

/// Whether to colour stderr: `--color`, else a terminal without `NO_COLOR` set to anything
/// but empty (https://no-color.org).
fn color(choice: ColorChoice) -> bool {
    use std::io::IsTerminal;
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
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
