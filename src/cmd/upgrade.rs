//! `sftpha upgrade`: a new sftpha binary on every node, one node at a time: drained (its
//! gateway sends new logins elsewhere, live sessions finish), swapped, started, checked
//! healthy with the same config, users and host key, then the next.

use std::path::PathBuf;

use clap::Args;

use crate::cmd::context::Context;
use crate::cmd::output::print_provision;
use crate::error::Result;
use crate::provision::{self, Options, Scope};

#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// The sftpha binary to install (default: this one).
    #[arg(long, value_name = "PATH")]
    pub node_binary: Option<PathBuf>,
    /// Only these nodes or hosts, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub only: Vec<String>,
    /// Print which nodes would get the binary and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Record the SSH host keys of hosts not yet in the cluster's known_hosts.
    #[arg(long)]
    pub accept_new_host_keys: bool,
    #[command(flatten)]
    pub common: crate::cmd::cli::Common,
}

pub fn run(ctx: &Context, args: &UpgradeArgs) -> Result<u8> {
    let cluster = ctx.cluster()?;
    let report = ctx.block_on(provision::provision(
        cluster,
        &Options {
            only: args.only.clone(),
            dry_run: args.dry_run,
            accept_new_host_keys: args.accept_new_host_keys,
            node_binary: args.node_binary.clone(),
            progress: ctx.progress(),
            scope: Scope::BINARY,
            rolling: true,
            create_keys: false,
            ..Options::everything()
        },
    ))??;
    print_provision(ctx, "upgrade", &report)
}
