//! `sftpha inventory`: the cluster as an Ansible dynamic inventory, so playbooks/provision.yml
//! renders the same templates with the same variables `provision` uses (defaults applied,
//! addresses derived) instead of re-reading cluster.toml on its own.

use std::path::PathBuf;

use clap::Args;
use serde_json::{json, Map, Value};

use crate::cmd::context::Context;
use crate::config::cluster::{Cluster, ServiceManager};
use crate::error::{exit, Result};
use crate::provision::desired::KEYS_DIR;
use crate::render::Renderer;

#[derive(Debug, Args)]
pub struct InventoryArgs {
    /// Print the whole inventory (what Ansible asks for).
    #[arg(long, conflicts_with = "host")]
    pub list: bool,
    /// Variables of one host (all are in `--list`'s `_meta`, so this prints `{}`).
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// The sftpha binary the playbook installs (default: this one).
    #[arg(long, value_name = "PATH")]
    pub node_binary: Option<PathBuf>,
    #[command(flatten)]
    pub cluster: crate::cmd::cli::ClusterOpt,
}

fn merge(into: &mut Map<String, Value>, value: Value) {
    if let Value::Object(map) = value {
        into.extend(map);
    }
}

/// The host key files a node holds (`host_key_files`: src in keys/, dest, mode, private) and
/// those of the rotation slots it must not hold (`retired_key_files`).
fn host_key_vars(cluster: &Cluster, dir: &std::path::Path) -> Value {
    use crate::keys::secrets::{host_key_names, host_key_slots, CERT_SUFFIX};
    let config = &cluster.file.node.config_dir;
    let keys = dir.join(KEYS_DIR);
    let names = host_key_names(cluster);
    let mut files = Vec::new();
    for name in &names {
        for (suffix, mode, private) in [
            ("", "0600", true),
            (CERT_SUFFIX, "0644", false),
            (".pub", "0644", false),
        ] {
            let file = format!("{name}{suffix}");
            files.push(json!({
                "src": keys.join(&file).display().to_string(),
                "dest": config.join(&file).display().to_string(),
                "mode": mode,
                "private": private,
            }));
        }
    }
    let retired: Vec<String> = host_key_slots()
        .into_iter()
        .filter(|(_, _, name)| !names.contains(name))
        .flat_map(|(_, _, name)| {
            ["", CERT_SUFFIX, ".pub"]
                .map(|s| config.join(format!("{name}{s}")).display().to_string())
        })
        .collect();
    json!({ "host_key_files": files, "retired_key_files": retired })
}

pub fn inventory(cluster: &Cluster, node_binary: Option<&PathBuf>) -> Result<Value> {
    let renderer = Renderer::new(cluster)?;
    let c = &cluster.file;
    let absolute = |p: &std::path::Path| {
        if p.is_absolute() {
            p.to_owned()
        } else {
            std::env::current_dir().unwrap_or_default().join(p)
        }
    };
    let dir = absolute(cluster.dir());
    let binary = match node_binary {
        Some(p) => absolute(p),
        None => std::env::current_exe()?,
    };
    let templates: Map<String, Value> = renderer
        .overrides()
        .into_iter()
        .map(|(name, path)| (name, json!(path.display().to_string())))
        .collect();
    let mut ssh_args = format!(
        "-o StrictHostKeyChecking=yes -o UserKnownHostsFile={}",
        absolute(&cluster.known_hosts).display()
    );
    if c.ssh.identity.is_some() {
        ssh_args += " -o IdentitiesOnly=yes";
    }
    let common = |host: &str| -> Map<String, Value> {
        let mut vars = Map::new();
        vars.insert("ansible_host".into(), json!(host));
        vars.insert("ansible_user".into(), json!(c.ssh.user));
        vars.insert("ansible_port".into(), json!(c.ssh.port));
        vars.insert("ansible_ssh_common_args".into(), json!(ssh_args));
        vars.insert("ansible_ssh_timeout".into(), json!(c.ssh.timeout_seconds));
        if let Some(identity) = &c.ssh.identity {
            vars.insert(
                "ansible_ssh_private_key_file".into(),
                json!(dir.join(identity).display().to_string()),
            );
        }
        vars.insert(
            "sftpha".into(),
            json!({
                "binary": binary.display().to_string(),
                "cluster": absolute(&cluster.path).display().to_string(),
                "keys_dir": dir.join(KEYS_DIR).display().to_string(),
                "users_file": absolute(&cluster.users).display().to_string(),
                "templates": templates,
                "service_manager": match c.node.service_manager {
                    ServiceManager::Auto => "auto",
                    ServiceManager::Systemd => "systemd",
                    ServiceManager::Detached => "detached",
                },
            }),
        );
        vars
    };
    let mut hostvars: Map<String, Value> = Map::new();
    let mut nodes = Vec::new();
    for node in cluster.node_addrs() {
        let mut vars = common(&node.host);
        merge(
            &mut vars,
            serde_json::to_value(renderer.node_context(&node)).unwrap_or_default(),
        );
        merge(&mut vars, host_key_vars(cluster, &dir));
        nodes.push(node.host.clone());
        hostvars.insert(node.host.clone(), Value::Object(vars));
    }
    let mut gateways = Vec::new();
    if let Some(m) = cluster.gateway.managed() {
        for (i, host) in m.hosts.iter().enumerate() {
            let ctx = serde_json::to_value(renderer.gateway_context(host, i)).unwrap_or_default();
            match hostvars.get_mut(host) {
                Some(Value::Object(vars)) => merge(vars, ctx),
                _ => {
                    let mut vars = common(host);
                    merge(&mut vars, ctx);
                    hostvars.insert(host.clone(), Value::Object(vars));
                }
            }
            gateways.push(host.clone());
        }
    }
    Ok(json!({
        "_meta": { "hostvars": hostvars },
        "all": { "children": ["nodes", "gateways"] },
        "nodes": { "hosts": nodes },
        "gateways": { "hosts": gateways },
    }))
}

pub fn run(ctx: &Context, args: &InventoryArgs) -> Result<u8> {
    let value = if args.host.is_some() {
        json!({})
    } else {
        let cluster = ctx.cluster()?;
        inventory(cluster, args.node_binary.as_ref())?
    };
    // JSON whatever `--format`: Ansible reads it.
    ctx.print_as(true, &value, |_| String::new())?;
    Ok(exit::OK)
}
