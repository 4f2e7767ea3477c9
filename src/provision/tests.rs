//! Unit tests of provisioning's planning, with no host and no root: the desired state of a
//! cluster, the parsing of a host's inventory output, the plan a host's facts give, the
//! narrowing to a command's scope and `--only`, and the service scripts.

use std::sync::Arc;

use super::desired::{self, Effect, HostSpec, Item, Secrets, Service};
use super::host::{self, FileAction, Found, ServiceAction};
use super::*;
use crate::config::fixture::{cluster_in, edit, CLUSTER};
use crate::render::Renderer;

const USERS: &str = "[[users]]\nname = \"alice\"\nkeys = [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ alice\"]\n";

/// A cluster in a temporary folder with its users.toml and keys, and the desired state of
/// every host.
struct Site {
    _dir: tempfile::TempDir,
    cluster: Cluster,
}

impl Site {
    fn new(text: &str) -> Site {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("users.toml"), USERS).unwrap();
        let cluster = cluster_in(dir.path(), text);
        Site { _dir: dir, cluster }
    }

    fn specs(&self) -> Vec<HostSpec> {
        let renderer = Renderer::new(&self.cluster).unwrap();
        let secrets = Secrets::load_or_create(&self.cluster, true).unwrap();
        let bytes = Arc::new(b"\x7fELF a stand-in binary".to_vec());
        let sha256 = crate::checksum::sha256_hex(&bytes);
        let binary = super::binary::Binary { bytes, sha256 };
        desired::desired(&self.cluster, &renderer, &secrets, binary).unwrap()
    }
}

fn node_spec(specs: &[HostSpec]) -> HostSpec {
    specs.iter().find(|s| s.node.is_some()).unwrap().clone()
}

/// The lines `inventory_script` prints for file `i` of `spec` found with checksum `sha` and
/// `mode`, owned by root.
fn found_lines(spec: &HostSpec, i: usize, sha: &str, mode: u32) -> String {
    let f = &spec.files[i];
    let path = f.path.display();
    let sum = if f.quick {
        format!("qsum {i} {sha}")
    } else {
        format!("sum {sha}  {path}")
    };
    format!("stat {mode:o} root {path}\n{sum}\n")
}

/// What `inventory_script` prints on a host holding exactly `spec` (owners as provisioned),
/// with the node service `up` or not.
fn inventory_of(spec: &HostSpec, up: bool) -> String {
    let mut out = String::from("systemd no\narch x86_64\n");
    for (i, f) in spec.files.iter().enumerate() {
        if f.absent || f.systemd_only {
            continue;
        }
        out += &found_lines(spec, i, &f.sha256, f.mode);
        if f.judge.is_some() {
            use base64ct::Encoding;
            out += &format!(
                "content {i} {}\n",
                base64ct::Base64::encode_string(&f.content)
            );
        }
    }
    for s in &spec.services {
        out += &format!("service {} {}\n", s.name(), if up { "up" } else { "down" });
    }
    out += "storage yes\n";
    out
}

fn items(scope: Scope) -> &'static [Item] {
    match scope {
        Scope::Nodes(items) => items,
        Scope::Everything => panic!("not a narrow scope"),
    }
}

fn index_of(spec: &HostSpec, kind: Item) -> usize {
    spec.files.iter().position(|f| f.kind == kind).unwrap()
}

#[test]
fn every_host_gets_its_files_and_services() {
    let site = Site::new(CLUSTER);
    let specs = site.specs();
    // 3 nodes, then 2 gateway hosts.
    assert_eq!(specs.len(), 5);
    let node = &specs[0];
    assert_eq!(node.roles, ["node n1"]);
    assert_eq!(node.services, [Service::Node]);
    for kind in [
        Item::Binary,
        Item::NodeToml,
        Item::UsersToml,
        Item::HostKey,
        Item::ProbeKey,
        Item::SystemdUnit,
    ] {
        assert!(node.files.iter().any(|f| f.kind == kind), "{kind:?}");
    }
    let users = &node.files[index_of(node, Item::UsersToml)];
    assert_eq!(users.mode, 0o640);
    assert_eq!(users.affects, [(Service::Node, Effect::Reload)]);
    let gw = &specs[3];
    assert_eq!(gw.roles, ["gateway gw1"]);
    assert_eq!(gw.services, [Service::Gateway, Service::Keepalived]);
    assert!(gw.files.iter().any(|f| f.kind == Item::KeepalivedConf));
    assert!(!gw.files.iter().any(|f| f.kind == Item::UsersToml));

    // HAProxy instead of the builtin gateway; no vip: no keepalived.
    let haproxy = edit(CLUSTER, "[gateway]\n", "[gateway]\nkind = \"haproxy\"\n");
    let specs = Site::new(&edit(&haproxy, "vip = \"198.18.0.20\"\n", "")).specs();
    assert_eq!(specs[3].services, [Service::Haproxy]);
    let cfg = specs[3]
        .files
        .iter()
        .find(|f| f.kind == Item::HaproxyCfg)
        .unwrap();
    assert_eq!(cfg.check, Some("haproxy -c -q -f {}"));

    // An external balancer: node hosts only.
    let external = edit(
        &edit(CLUSTER, "[gateway]\n", "[gateway]\nkind = \"external\"\n"),
        "vip = \"198.18.0.20\"\n",
        "",
    );
    assert_eq!(Site::new(&external).specs().len(), 3);
}

#[test]
fn a_node_host_shared_with_a_gateway_is_one_host() {
    let shared = edit(
        &edit(CLUSTER, "\"198.18.0.21\", ", "\"198.18.0.11\", "),
        "[gateway]\n",
        "[gateway]\nport = 2200\n",
    );
    let specs = Site::new(&shared).specs();
    assert_eq!(specs.len(), 4);
    let both = &specs[0];
    assert_eq!(both.roles, ["node n1", "gateway gw1"]);
    assert_eq!(
        both.services,
        [Service::Node, Service::Gateway, Service::Keepalived]
    );
    // One binary, and a new one restarts both services.
    let binaries: Vec<_> = both
        .files
        .iter()
        .filter(|f| f.kind == Item::Binary)
        .collect();
    assert_eq!(binaries.len(), 1);
    assert_eq!(
        binaries[0].affects,
        [
            (Service::Node, Effect::Restart),
            (Service::Gateway, Effect::Restart)
        ]
    );
}

#[test]
fn inventory_output_is_parsed_and_odd_output_refused() {
    let specs = Site::new(CLUSTER).specs();
    let spec = node_spec(&specs);
    let users = index_of(&spec, Item::UsersToml);
    let toml = index_of(&spec, Item::NodeToml);
    let users_path = spec.files[users].path.display();
    let out = format!(
        "systemd yes\narch aarch64\nstat 640 sftpha {users_path}\nsum abc  {users_path}\ncontent {toml} aGVsbG8=\nservice node up\nmissing haproxy\nuid 998\nstorage no\n"
    );
    let facts = host::parse_inventory(&spec, &out).unwrap();
    assert!(facts.systemd);
    assert_eq!(facts.arch, "aarch64");
    assert_eq!(
        facts.files[users],
        Some(Found {
            sha256: "abc".into(),
            mode: 0o640,
            owner: "sftpha".into(),
            content: None,
        })
    );
    // Content of a missing file is dropped, not attached to another.
    assert_eq!(facts.files[toml], None);
    assert_eq!(facts.running, [(Service::Node, true)]);
    assert_eq!(facts.missing, ["haproxy"]);
    assert_eq!(facts.service_uid, Some(998));
    assert!(!facts.storage);

    for odd in [
        "arch x86_64\nfile 1 abc 644 root\n",
        "arch x86_64\nstat rw root /etc/x\n",
        "arch x86_64\nqsum one abc\n",
        "arch x86_64\nsum abc\n",
        "arch x86_64\ncontent 1 !!!\n",
        "arch x86_64\nsomething else\n",
        "",
        "bash: sha256sum: command not found\n",
    ] {
        assert!(host::parse_inventory(&spec, odd).is_err(), "{odd:?}");
    }
}

#[test]
fn a_fresh_host_gets_everything_and_a_provisioned_one_nothing() {
    let site = Site::new(CLUSTER);
    let specs = site.specs();
    let spec = node_spec(&specs);
    let fresh =
        host::parse_inventory(&spec, "systemd no\narch x86_64\nservice node down\n").unwrap();
    let plan = host::plan(&site.cluster, &spec, &fresh);
    assert!(!plan.systemd);
    for change in &plan.files {
        let f = spec.files.iter().find(|f| f.item == change.item).unwrap();
        let want = if f.absent {
            FileAction::Unchanged
        } else {
            FileAction::Create
        };
        assert_eq!(change.action, want, "{}", change.item);
    }
    // Detached: the systemd unit is not planned at all.
    assert!(!plan.files.iter().any(|c| c.item == "systemd unit"));
    assert_eq!(plan.services[0].action, ServiceAction::Start);

    let done = host::parse_inventory(&spec, &inventory_of(&spec, true)).unwrap();
    let plan = host::plan(&site.cluster, &spec, &done);
    assert!(plan.is_unchanged(), "{:?}", plan.files);
    // A stopped node with every file in place is started, nothing written.
    let stopped = host::parse_inventory(&spec, &inventory_of(&spec, false)).unwrap();
    let plan = host::plan(&site.cluster, &spec, &stopped);
    assert!(plan.writes.is_empty());
    assert_eq!(plan.services[0].action, ServiceAction::Start);
}

#[test]
fn each_change_asks_its_service_for_what_it_needs() {
    let site = Site::new(CLUSTER);
    let specs = site.specs();
    let spec = node_spec(&specs);
    let provisioned = inventory_of(&spec, true);
    // The provisioned host, but file `i` found with `sha` and `mode`.
    let with = |i: usize, sha: &str, mode: u32| -> String {
        let f = &spec.files[i];
        provisioned.replace(&found_lines(&spec, i, &f.sha256, f.mode), "")
            + &found_lines(&spec, i, sha, mode)
    };
    let plan_of = |out: &str| {
        let facts = host::parse_inventory(&spec, out).unwrap();
        host::plan(&site.cluster, &spec, &facts)
    };
    let action_of = |plan: &host::HostPlan, i: usize| {
        plan.files
            .iter()
            .find(|c| c.item == spec.files[i].item)
            .unwrap()
            .action
    };

    // users.toml changed: written, the node reloads.
    let users = index_of(&spec, Item::UsersToml);
    let plan = plan_of(&with(users, "00ff", 0o640));
    assert_eq!(action_of(&plan, users), FileAction::Change);
    assert_eq!(plan.writes, [users]);
    assert_eq!(plan.services[0].action, ServiceAction::Reload);

    // Only the mode differs: fixed in place, no service touched.
    let sha = &spec.files[users].sha256;
    let plan = plan_of(&with(users, sha, 0o644));
    assert_eq!(action_of(&plan, users), FileAction::Mode);
    assert_eq!(plan.services[0].action, ServiceAction::Unchanged);

    // The binary changed: the node restarts.
    let binary = index_of(&spec, Item::Binary);
    let plan = plan_of(&with(binary, "00ff", 0o755));
    assert_eq!(plan.services[0].action, ServiceAction::Restart);

    // node.toml: the judge reads the old content. Another max_sessions needs a restart.
    let toml = index_of(&spec, Item::NodeToml);
    use base64ct::Encoding;
    let old = String::from_utf8_lossy(&spec.files[toml].content)
        .replace("max_sessions = 1000", "max_sessions = 400");
    assert_ne!(old.as_bytes(), spec.files[toml].content.as_slice());
    let out = with(toml, "00ff", 0o644).replace(
        &format!(
            "content {toml} {}",
            base64ct::Base64::encode_string(&spec.files[toml].content)
        ),
        &format!(
            "content {toml} {}",
            base64ct::Base64::encode_string(old.as_bytes())
        ),
    );
    let plan = plan_of(&out);
    assert_eq!(action_of(&plan, toml), FileAction::Change);
    assert_eq!(plan.services[0].action, ServiceAction::Restart);

    // A key slot that must be empty (no rotation under way) but holds a file: removed.
    let retired = spec.files.iter().position(|f| f.absent).unwrap();
    let plan = plan_of(&with(retired, "abcd", 0o600));
    assert_eq!(action_of(&plan, retired), FileAction::Remove);
    assert!(plan.writes.contains(&retired));

    // Nothing differs, but an earlier run wrote files and died before the node reloaded
    // (its marker is left): the reload is done now.
    let plan = plan_of(&(provisioned.clone() + "pending node-reload\n"));
    assert!(plan.writes.is_empty());
    assert_eq!(plan.services[0].action, ServiceAction::Reload);
    let marker = host::pending_marker(&site.cluster, Service::Node, ServiceAction::Reload).unwrap();
    assert!(marker.ends_with("/pending-node-reload"), "{marker}");
    let script = host::clearing_marker(
        &site.cluster,
        Service::Node,
        ServiceAction::Reload,
        "kill -HUP 1".into(),
    );
    assert!(
        script.contains(&format!(") && rm -f '{marker}'")),
        "{script}"
    );
    assert!(
        host::parse_inventory(&spec, &(provisioned.clone() + "pending node-sideways\n")).is_err()
    );
}

#[test]
fn a_retired_gateway_kind_is_stopped_before_anything_starts() {
    let site = Site::new(&edit(
        CLUSTER,
        "[gateway]\n",
        "[gateway]\nkind = \"haproxy\"\n",
    ));
    let specs = site.specs();
    let spec = specs.iter().find(|s| s.gateway.is_some()).unwrap().clone();
    assert_eq!(spec.retired, [Service::Gateway]);
    // The builtin gateway's files are to be gone.
    let toml = spec
        .files
        .iter()
        .find(|f| f.item == "gateway.toml")
        .unwrap();
    assert!(toml.absent);
    let out = inventory_of(&spec, true) + "retired gateway\n";
    let facts = host::parse_inventory(&spec, &out).unwrap();
    let plan = host::plan(&site.cluster, &spec, &facts);
    assert_eq!(plan.services[0].service, Service::Gateway);
    assert_eq!(plan.services[0].action, ServiceAction::Stop);
    let stop = host::stop_script(&site.cluster, &spec, Service::Gateway);
    assert!(stop.contains("systemctl disable --now --quiet sftpha-gateway.socket sftpha-gateway"));
    assert!(stop.contains("gateway-worker.pid"));
    // An HAProxy is stopped only when its configuration is ours.
    let site = Site::new(CLUSTER);
    let specs = site.specs();
    let spec = specs.iter().find(|s| s.gateway.is_some()).unwrap().clone();
    assert_eq!(spec.retired, [Service::Haproxy]);
    let stop = host::stop_script(&site.cluster, &spec, Service::Haproxy);
    assert!(
        stop.contains("grep -qs 'Rendered by sftpha' /etc/haproxy/haproxy.cfg"),
        "{stop}"
    );
    assert!(stop.contains("kill -USR1"), "{stop}");
}

#[test]
fn a_command_touches_only_its_scope_and_only_what_it_names() {
    let site = Site::new(CLUSTER);
    let users = narrow(site.specs(), items(Scope::USERS));
    assert_eq!(users.len(), 3, "node hosts only");
    for spec in &users {
        assert_eq!(spec.services, [Service::Node]);
        assert!(spec.files.iter().all(|f| f.kind == Item::UsersToml));
        assert_eq!(spec.files.len(), 1);
    }
    let keys = narrow(site.specs(), items(Scope::HOST_KEYS));
    assert!(keys[0]
        .files
        .iter()
        .all(|f| matches!(f.kind, Item::NodeToml | Item::HostKey)));
    assert_eq!(
        keys[0]
            .files
            .iter()
            .filter(|f| f.kind == Item::HostKey)
            .count(),
        18,
        "3 key types x (key, certificate, public) x (in force, next)"
    );

    let only = |names: &[&str]| -> Vec<String> {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        check_only(&site.cluster, &names).unwrap();
        select(site.specs(), &names)
            .into_iter()
            .map(|s| s.host)
            .collect()
    };
    assert_eq!(only(&["n2"]), ["198.18.0.12"]);
    assert_eq!(only(&["gw2"]), ["198.18.0.22"]);
    assert_eq!(
        only(&["198.18.0.13", "gw1"]),
        ["198.18.0.13", "198.18.0.21"]
    );
    assert_eq!(only(&[]).len(), 5);
    let err = check_only(&site.cluster, &["n9".to_owned()]).unwrap_err();
    assert!(err.to_string().contains("`n9`"), "{err}");
}

#[test]
fn service_scripts_come_from_the_playbooks_template() {
    let site = Site::new(CLUSTER);
    let specs = site.specs();
    let spec = node_spec(&specs);
    let renderer = Renderer::new(&site.cluster).unwrap();
    let script = |service, action, systemd| {
        host::service_script(
            &site.cluster,
            &renderer,
            &spec,
            service,
            action,
            systemd,
            false,
        )
        .unwrap()
    };
    assert_eq!(script(Service::Node, ServiceAction::Unchanged, false), None);
    let detached = script(Service::Node, ServiceAction::Restart, false).unwrap();
    assert_eq!(
        Some(detached.clone()),
        renderer.service_script("node", "restart", false).ok()
    );
    assert!(detached.contains("/var/lib/sftpha/node.pid"), "{detached}");
    assert!(detached.contains("'/opt/sftpha/bin/sftpha' node run --config '/etc/sftpha/node.toml'"));
    assert!(detached.contains("stop; start"), "{detached}");
    let reload = script(Service::Node, ServiceAction::Reload, false).unwrap();
    assert!(reload.contains("kill -HUP"), "{reload}");
    let systemd = script(Service::Gateway, ServiceAction::Start, true).unwrap();
    assert!(
        systemd.contains("systemctl enable --now sftpha-gateway"),
        "{systemd}"
    );
    // Under systemd the script's work is its last line; the detached functions are unused.
    assert!(
        systemd
            .trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("systemctl is-active --quiet sftpha-gateway ||"),
        "{systemd}"
    );
    // The scripts are valid shell.
    for s in [&detached, &reload, &systemd] {
        let out = std::process::Command::new("sh")
            .args(["-n", "-c", s])
            .output()
            .unwrap();
        assert!(out.status.success(), "{s}\n{out:?}");
    }
    // keepalived's stays sftpha's own.
    let keepalived = host::service_script(
        &site.cluster,
        &renderer,
        &specs[3],
        Service::Keepalived,
        ServiceAction::Start,
        false,
        false,
    )
    .unwrap()
    .unwrap();
    assert!(keepalived.contains("keepalived -f"), "{keepalived}");
}
