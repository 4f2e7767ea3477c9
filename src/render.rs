//! Renders what every host receives (node.toml, the systemd units, gateway.toml, haproxy.cfg,
//! keepalived.conf) from the Jinja2 templates in `templates/` with minijinja. The same files
//! serve the Ansible playbook. An operator overrides a template by putting a file of the
//! same name in a `templates/` folder beside cluster.toml.
//!
//! Pure: a validated [`Cluster`] in, file contents out. Undefined variables are errors, so a
//! typo in an operator's template fails the render instead of writing an empty value.

use std::path::PathBuf;

use minijinja::{context, Environment, UndefinedBehavior};
use serde::Serialize;

use crate::config::cluster::{Cluster, NodeAddr};
use crate::error::{Error, Result};
use crate::keys::secrets::CERT_SUFFIX;

/// The templates shipped in the binary, by file name.
pub const BUILTIN: [(&str, &str); 8] = [
    ("node.toml.j2", include_str!("../templates/node.toml.j2")),
    (
        "sftpha-node.service.j2",
        include_str!("../templates/sftpha-node.service.j2"),
    ),
    (
        "gateway.toml.j2",
        include_str!("../templates/gateway.toml.j2"),
    ),
    (
        "sftpha-gateway.service.j2",
        include_str!("../templates/sftpha-gateway.service.j2"),
    ),
    (
        "sftpha-gateway.socket.j2",
        include_str!("../templates/sftpha-gateway.socket.j2"),
    ),
    (
        "haproxy.cfg.j2",
        include_str!("../templates/haproxy.cfg.j2"),
    ),
    (
        "keepalived.conf.j2",
        include_str!("../templates/keepalived.conf.j2"),
    ),
    ("service.sh.j2", include_str!("../templates/service.sh.j2")),
];

/// The public key of the probe login (`sftpha-probe`), relative to `config_dir`.
pub const PROBE_KEY_FILE: &str = "probe_ed25519.pub";

/// One file for one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rendered {
    /// Absolute path on the host.
    pub path: PathBuf,
    pub content: String,
    pub mode: u32,
}

pub struct Renderer<'c> {
    cluster: &'c Cluster,
    env: Environment<'static>,
    /// Where each template came from, for errors.
    sources: Vec<(String, PathBuf)>,
    /// Templates whose source ends with a newline.
    ends_with_newline: Vec<String>,
    /// The host key files the nodes hold, in the order they present them.
    host_key_names: Vec<String>,
}

#[derive(Serialize)]
struct Paths {
    install_dir: String,
    config_dir: String,
    state_dir: String,
    log_dir: String,
}

impl<'c> Renderer<'c> {
    /// Loads the templates: the operator's from `DIR/templates/` where present, else ours.
    pub fn new(cluster: &'c Cluster) -> Result<Renderer<'c>> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Trailing newlines as Ansible's template module has them (Jinja2 drops the source's
        // last newline, Ansible puts one back if the output lost it), so the playbook and
        // `provision` write the same bytes.
        env.set_keep_trailing_newline(false);
        let mut sources = Vec::new();
        let mut ends_with_newline = Vec::new();
        for (name, builtin) in BUILTIN {
            let custom = cluster.dir().join("templates").join(name);
            let (text, origin) = match std::fs::read_to_string(&custom) {
                Ok(text) => (text, custom),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => (
                    builtin.to_owned(),
                    PathBuf::from(format!("(built in) templates/{name}")),
                ),
                Err(source) => {
                    return Err(Error::ReadFile {
                        path: custom,
                        source,
                    })
                }
            };
            if text.ends_with('\n') {
                ends_with_newline.push(name.to_owned());
            }
            env.add_template_owned(name.to_owned(), text)
                .map_err(|e| template_error(&origin, &e))?;
            sources.push((name.to_owned(), origin));
        }
        Ok(Renderer {
            cluster,
            env,
            sources,
            ends_with_newline,
            host_key_names: crate::keys::secrets::host_key_names(cluster),
        })
    }

    fn render(&self, name: &str, ctx: minijinja::Value) -> Result<String> {
        let origin = self
            .sources
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| PathBuf::from(name));
        let template = self
            .env
            .get_template(name)
            .map_err(|e| template_error(&origin, &e))?;
        let mut out = template
            .render(ctx)
            .map_err(|e| template_error(&origin, &e))?;
        if !out.ends_with('\n') && self.ends_with_newline.iter().any(|n| n == name) {
            out.push('\n');
        }
        Ok(out)
    }

    fn base(&self) -> minijinja::Value {
        let c = &self.cluster.file;
        let paths = Paths {
            install_dir: c.node.install_dir.display().to_string(),
            config_dir: c.node.config_dir.display().to_string(),
            state_dir: c.node.state_dir.display().to_string(),
            log_dir: c.node.log_dir.display().to_string(),
        };
        let nodes: Vec<minijinja::Value> =
            self.cluster.node_addrs().iter().map(node_value).collect();
        context! {
            cluster => context! { name => c.name.clone() },
            settings => minijinja::Value::from_serialize(&c.node),
            storage => minijinja::Value::from_serialize(&c.storage),
            gateway => minijinja::Value::from_serialize(&c.gateway),
            health_timeout_ms => self.cluster.health_timeout_ms(),
            paths => minijinja::Value::from_serialize(&paths),
            nodes => nodes,
        }
    }

    /// The shell that brings a node or gateway service to `action` (`ensure`, `restart`,
    /// `reload`), under systemd or detached with a pidfile: the script the playbook runs too.
    pub fn service_script(&self, service: &str, action: &str, use_systemd: bool) -> Result<String> {
        let ctx = context! {
            service => service,
            action => action,
            use_systemd => use_systemd,
            ..self.base()
        };
        self.render("service.sh.j2", ctx)
    }

    /// node.toml for one node.
    pub fn node_toml(&self, node: &NodeAddr) -> Result<String> {
        self.render("node.toml.j2", self.node_context(node))
    }

    /// What node.toml.j2 sees for `node` (also the Ansible inventory's host variables).
    pub fn node_context(&self, node: &NodeAddr) -> minijinja::Value {
        let c = &self.cluster.file;
        // Nodes accept a PROXY header from the gateways (and the vip, which is where HAProxy's
        // connections come from when it binds it); direct logins stay possible for checks.
        let gateway = &self.cluster.gateway;
        let mut trusted: Vec<String> = gateway.hosts().iter().map(|h| cidr_of(h)).collect();
        if let Some(vip) = gateway.vip() {
            trusted.push(cidr_of(&vip.to_string()));
        }
        let proxy = if trusted.is_empty() {
            "off"
        } else {
            "optional"
        };
        let config = |name: String| c.node.config_dir.join(name).display().to_string();
        let host_keys: Vec<String> = self.host_key_names.iter().cloned().map(config).collect();
        // Certificates in the keys' order: a node presents the first key and the first
        // certificate of the type a client asks for, and they must be the same key (OpenSSH
        // clients that pin plain keys also ask for certificates, and check the key inside).
        let certificates: Vec<String> = self
            .host_key_names
            .iter()
            .map(|k| config(format!("{k}{CERT_SUFFIX}")))
            .collect();
        let probe_key = config(PROBE_KEY_FILE.to_owned());
        context! {
            node => node_value(node),
            host_keys => host_keys,
            host_certificates => certificates,
            probe_key => probe_key,
            proxy_protocol => proxy,
            proxy_trusted => trusted,
            ..self.base()
        }
    }

    pub fn node_unit(&self) -> Result<String> {
        self.render("sftpha-node.service.j2", self.base())
    }

    /// gateway.toml for the builtin gateway on `host`.
    pub fn gateway_toml(&self, host: &str, index: usize) -> Result<String> {
        self.render("gateway.toml.j2", self.gateway_context(host, index))
    }

    /// What gateway.toml.j2 sees for gateway host `index`.
    pub fn gateway_context(&self, host: &str, index: usize) -> minijinja::Value {
        context! {
            gateway_host => host,
            gateway_name => format!("gw{}", index + 1),
            ..self.base()
        }
    }

    /// The operator's template files that replace built-in ones, by template name.
    pub fn overrides(&self) -> Vec<(String, PathBuf)> {
        self.sources
            .iter()
            .filter(|(_, p)| p.is_absolute())
            .cloned()
            .collect()
    }

    pub fn gateway_unit(&self) -> Result<String> {
        self.render("sftpha-gateway.service.j2", self.base())
    }

    /// The socket unit that holds the gateway's sockets across restarts.
    pub fn gateway_socket(&self) -> Result<String> {
        self.render("sftpha-gateway.socket.j2", self.base())
    }

    pub fn haproxy_cfg(&self) -> Result<String> {
        self.render("haproxy.cfg.j2", self.base())
    }

    /// keepalived.conf for gateway host `index`, when the cluster has a vip and two or more
    /// gateway hosts; the first host has the higher priority.
    pub fn keepalived_conf(&self, index: usize) -> Result<Option<String>> {
        let Some(m) = self.cluster.gateway.managed() else {
            return Ok(None);
        };
        if m.vip.is_none() || m.hosts.len() < 2 {
            return Ok(None);
        }
        let host = &m.hosts[index];
        let peers: Vec<&String> = m.hosts.iter().filter(|h| *h != host).collect();
        let ctx = context! {
            gateway_host => host,
            peers => peers,
            priority => if index == 0 { 150 } else { 100 },
            virtual_router_id => virtual_router_id(&self.cluster.file.name),
            ..self.base()
        };
        self.render("keepalived.conf.j2", ctx).map(Some)
    }
}

fn node_value(n: &NodeAddr) -> minijinja::Value {
    context! {
        name => n.name.clone(),
        host => n.host.clone(),
        port => n.port,
        health_port => n.health_port,
    }
}

fn cidr_of(host: &str) -> String {
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => format!("{ip}/32"),
        Ok(std::net::IpAddr::V6(ip)) => format!("{ip}/128"),
        // A host name: the node resolves nothing; the operator lists addresses instead.
        Err(_) => host.to_owned(),
    }
}

/// A VRRP router id (1-255) derived from the cluster name, so two clusters on one network
/// segment do not collide by default.
pub fn virtual_router_id(name: &str) -> u8 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(name.as_bytes());
    (digest[0] % 254) + 1
}

fn template_error(origin: &std::path::Path, e: &minijinja::Error) -> Error {
    let mut message = e.to_string();
    if let Some(line) = e.line() {
        message = format!("line {line}: {message}");
    }
    Error::config(origin, None, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::fixture::{cluster_in, edit, CLUSTER};
    use crate::config::node::Node;
    use std::path::Path;

    /// The shared fixture behind HAProxy.
    fn haproxy() -> String {
        edit(CLUSTER, "[gateway]\n", "[gateway]\nkind = \"haproxy\"\n")
    }

    #[test]
    fn node_configs_differ_only_in_the_name_and_are_valid() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = cluster_in(dir.path(), &haproxy());
        let r = Renderer::new(&cluster).unwrap();
        let mut checksums = Vec::new();
        let mut without_name = Vec::new();
        for node in cluster.node_addrs() {
            let text = r.node_toml(&node).unwrap();
            let parsed = Node::parse(Path::new("/etc/sftpha/node.toml"), &text)
                .unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert_eq!(parsed.file.name, node.name);
            assert_eq!(
                parsed.file.proxy_trusted,
                ["198.18.0.21/32", "198.18.0.22/32", "198.18.0.20/32"]
            );
            checksums.push(parsed.checksum);
            without_name.push(
                text.lines()
                    .filter(|l| !l.starts_with("name =") && !l.starts_with("# acme-sftp: node"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
        }
        assert!(checksums.windows(2).all(|w| w[0] == w[1]));
        assert!(without_name.windows(2).all(|w| w[0] == w[1]));
    }

    #[test]
    fn nodes_hold_every_key_type_and_a_rotation_orders_keys_and_certificates_alike() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = cluster_in(dir.path(), &haproxy());
        let node = &cluster.node_addrs()[0];
        let files = || {
            let text = Renderer::new(&cluster).unwrap().node_toml(node).unwrap();
            let file = Node::parse(Path::new("/etc/sftpha/node.toml"), &text)
                .unwrap()
                .file;
            let names = |paths: &[std::path::PathBuf]| -> Vec<String> {
                paths
                    .iter()
                    .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                    .collect()
            };
            (names(&file.host_keys), names(&file.host_certificates))
        };
        let (keys, certificates) = files();
        assert_eq!(
            keys,
            [
                "ssh_host_ed25519_key",
                "ssh_host_ecdsa_key",
                "ssh_host_rsa_key"
            ]
        );
        let with = |suffix: &str, keys: &[String]| -> Vec<String> {
            keys.iter().map(|k| format!("{k}{suffix}")).collect()
        };
        assert_eq!(certificates, with("-cert.pub", &keys));
        // Phase 1: the new keys after the old (the old ones are presented).
        std::fs::create_dir(dir.path().join("keys")).unwrap();
        for kind in ["ed25519", "ecdsa", "rsa"] {
            std::fs::write(
                dir.path().join(format!("keys/ssh_host_{kind}_key.next")),
                "",
            )
            .unwrap();
        }
        let (keys, certificates) = files();
        assert_eq!(keys[0], "ssh_host_ed25519_key");
        assert_eq!(keys[3], "ssh_host_ed25519_key.next");
        assert_eq!(certificates, with("-cert.pub", &keys));
        // Phase 2 under way: the new keys first (they are presented), the old still held.
        std::fs::write(dir.path().join("keys/rotation-presenting-new"), "").unwrap();
        let (keys, certificates) = files();
        assert_eq!(keys[0], "ssh_host_ed25519_key.next");
        assert_eq!(keys[3], "ssh_host_ed25519_key");
        assert_eq!(certificates, with("-cert.pub", &keys));
    }

    #[test]
    fn haproxy_checks_healthz_sends_proxy_v2_and_redispatches() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = cluster_in(dir.path(), &haproxy());
        let cfg = Renderer::new(&cluster).unwrap().haproxy_cfg().unwrap();
        for expected in [
            "option httpchk GET /healthz",
            "send-proxy-v2",
            "option redispatch 1",
            "balance leastconn",
            "server n2 198.18.0.12:2222 check port 9022",
            "inter 1000ms fall 2 rise 2",
            "timeout client 8h",
        ] {
            assert!(cfg.contains(expected), "`{expected}` missing:\n{cfg}");
        }
    }

    #[test]
    fn keepalived_only_with_a_vip_and_two_gateways() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = cluster_in(dir.path(), &haproxy());
        let r = Renderer::new(&cluster).unwrap();
        let first = r.keepalived_conf(0).unwrap().unwrap();
        let second = r.keepalived_conf(1).unwrap().unwrap();
        assert!(first.contains("priority 150") && second.contains("priority 100"));
        assert!(
            first.contains("unicast_peer {\n        198.18.0.22\n"),
            "{first}"
        );
        assert!(
            first.contains("198.18.0.20")
                && first.contains("advert_int 0.3")
                && first.contains("version 3")
        );
        assert!(first.contains("kill -0 $(cat /var/lib/sftpha/haproxy.pid 2>/dev/null)"));
        assert!(first.contains("kill -0 $(cat /run/haproxy.pid 2>/dev/null)"));

        let single = cluster_in(
            dir.path(),
            &edit(
                &haproxy(),
                "hosts = [\"198.18.0.21\", \"198.18.0.22\"]",
                "hosts = [\"198.18.0.21\"]",
            ),
        );
        assert_eq!(
            Renderer::new(&single).unwrap().keepalived_conf(0).unwrap(),
            None
        );
    }

    #[test]
    fn builtin_gateway_config_is_valid() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = cluster_in(dir.path(), CLUSTER);
        let r = Renderer::new(&cluster).unwrap();
        let text = r.gateway_toml("198.18.0.21", 0).unwrap();
        let g =
            crate::config::gateway::Gateway::parse(Path::new("/etc/sftpha/gateway.toml"), &text)
                .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(g.backends.len(), 3);
        assert_eq!(g.backends[0].health_path, "/healthz");
        assert!(r
            .node_unit()
            .unwrap()
            .contains("ExecStart=/opt/sftpha/bin/sftpha node run --config /etc/sftpha/node.toml"));
        assert!(r
            .gateway_unit()
            .unwrap()
            .contains("gateway supervise --config /etc/sftpha/gateway.toml"));
    }

    #[test]
    fn an_operator_template_wins_and_typos_fail_loudly() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("templates")).unwrap();
        std::fs::write(
            dir.path().join("templates/haproxy.cfg.j2"),
            "# ours\nbind :{{ gateway.port }}\n",
        )
        .unwrap();
        let cluster = cluster_in(dir.path(), &haproxy());
        assert_eq!(
            Renderer::new(&cluster).unwrap().haproxy_cfg().unwrap(),
            "# ours\nbind :2222\n"
        );

        std::fs::write(
            dir.path().join("templates/haproxy.cfg.j2"),
            "bind :{{ gateway.prot }}\n",
        )
        .unwrap();
        let e = Renderer::new(&cluster)
            .unwrap()
            .haproxy_cfg()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("templates/haproxy.cfg.j2") && e.contains("line 1"),
            "{e}"
        );
    }

    /// HAProxy itself accepts what we render (`haproxy -c`).
    #[test]
    fn haproxy_accepts_the_rendered_config() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = cluster_in(dir.path(), &haproxy());
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(
            &path,
            Renderer::new(&cluster).unwrap().haproxy_cfg().unwrap(),
        )
        .unwrap();
        let out = std::process::Command::new("haproxy")
            .arg("-c")
            .arg("-f")
            .arg(&path)
            .output()
            .expect("haproxy is installed (scripts/setup)");
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// keepalived itself accepts what we render (`keepalived --config-test`).
    #[test]
    fn keepalived_accepts_the_rendered_config() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = cluster_in(dir.path(), CLUSTER);
        let path = dir.path().join("keepalived.conf");
        let text = Renderer::new(&cluster)
            .unwrap()
            .keepalived_conf(1)
            .unwrap()
            .unwrap();
        std::fs::write(&path, &text).unwrap();
        let out = std::process::Command::new("keepalived")
            .arg("--config-test")
            .arg("--use-file")
            .arg(&path)
            .output()
            .expect("keepalived is installed (scripts/setup)");
        assert!(
            out.status.success(),
            "{text}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn router_ids_are_in_range_and_stable() {
        assert_eq!(
            virtual_router_id("acme-sftp"),
            virtual_router_id("acme-sftp")
        );
        for name in ["a", "b", "acme", "x-y"] {
            assert!((1..=255).contains(&virtual_router_id(name)));
        }
    }
}
