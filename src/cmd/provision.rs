//! `sftpha provision`: plan, apply, verify; a table per host or JSON.

use std::path::PathBuf;

use clap::Args;

use crate::cmd::context::Context;
use crate::cmd::output::print_provision;
use crate::error::Result;
use crate::provision::{self, Options};

#[derive(Debug, Args)]
pub struct ProvisionArgs {
    /// Only these nodes, gateways (gw1, gw2, ...) or hosts, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub only: Vec<String>,
    /// Print what would change on every host (create / change / unchanged) and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Record the host keys of hosts not yet in the cluster's known_hosts (check the printed
    /// fingerprints). A key that CHANGED is refused all the same.
    #[arg(long)]
    pub accept_new_host_keys: bool,
    /// The sftpha binary to install on the hosts (default: this one).
    #[arg(long, value_name = "PATH")]
    pub node_binary: Option<PathBuf>,
    #[command(flatten)]
    pub common: crate::cmd::cli::Common,
}

pub fn run(ctx: &Context, args: &ProvisionArgs) -> Result<u8> {
    let cluster = ctx.cluster()?;
    let report = ctx.block_on(provision::provision(
        cluster,
        &Options {
            only: args.only.clone(),
            dry_run: args.dry_run,
            accept_new_host_keys: args.accept_new_host_keys,
            node_binary: args.node_binary.clone(),
            progress: ctx.progress(),
            ..Options::everything()
        },
    ))??;
    print_provision(ctx, "provision", &report)
}
