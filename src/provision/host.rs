//! One host over SSH: what is there now (one command reads every checksum, mode and service
//! state), what must change, and the shell that changes it. Every write goes to a temporary
//! file beside the target, is checked where a checker exists, gets its mode (and owner), and
//! is renamed into place, so a host never holds a half-written file.

use std::path::PathBuf;
use std::time::Duration;

use base64ct::Encoding;
use serde::Serialize;

use super::desired::{Effect, HostSpec, Managed, Service};
use crate::config::cluster::{Cluster, ServiceManager};
use crate::render::Renderer;
use crate::ssh::remote::{quote, Remote, RemoteError};

/// One managed file as found on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub sha256: String,
    pub mode: u32,
    pub owner: String,
    /// The content, for files whose change effect depends on it (see `Managed::judge`).
    pub content: Option<Vec<u8>>,
}

/// What the host has now.
#[derive(Debug, Clone)]
pub struct Facts {
    /// Per file of the spec, in its order; `None` when missing.
    pub files: Vec<Option<Found>>,
    pub running: Vec<(Service, bool)>,
    pub systemd: bool,
    pub arch: String,
    /// uid of `node.service_user`, when one is set and exists.
    pub service_uid: Option<u32>,
    /// The storage path exists (node hosts).
    pub storage: bool,
    /// The identity of the storage there (`.sftpha/storage-id`), if it has one (node hosts).
    pub storage_id: Option<String>,
    /// The cluster's storage identity the node is told to expect (`STATE_DIR/storage-id`).
    pub expected_storage_id: Option<String>,
    /// Programs a service needs that the host lacks.
    pub missing: Vec<String>,
    /// Retired services (the spec's `retired`) found running.
    pub retired_running: Vec<Service>,
    /// Service actions a run planned but did not finish (it failed or was cut off after
    /// writing the files they were for): done again.
    pub pending: Vec<(Service, Effect)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileAction {
    Create,
    Change,
    /// Same content, other mode or owner.
    Mode,
    /// Must not exist (a retired key).
    Remove,
    Unchanged,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceAction {
    /// Stopped and disabled: a service of ours that must no longer run on the host.
    Stop,
    Start,
    Restart,
    Reload,
    Unchanged,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileChange {
    pub item: String,
    pub path: String,
    pub action: FileAction,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceChange {
    pub service: Service,
    pub action: ServiceAction,
}

/// What one host needs.
#[derive(Debug, Clone)]
pub struct HostPlan {
    pub systemd: bool,
    /// Indices into the spec's files of what must be written.
    pub writes: Vec<usize>,
    pub files: Vec<FileChange>,
    pub services: Vec<ServiceChange>,
}

impl HostPlan {
    /// A systemd unit is among the writes (systemd must re-read its units).
    pub fn units_changed(&self, spec: &HostSpec) -> bool {
        self.writes.iter().any(|&i| spec.files[i].systemd_only)
    }

    pub fn is_unchanged(&self) -> bool {
        self.writes.is_empty()
            && self
                .services
                .iter()
                .all(|s| s.action == ServiceAction::Unchanged)
    }
}

fn pidfile(cluster: &Cluster, service: Service) -> String {
    cluster
        .file
        .node
        .state_dir
        .join(format!("{}.pid", service.name()))
        .display()
        .to_string()
}

/// What `/proc/PID/cmdline` must match (an extended regular expression) for the pidfile to
/// be ours (a stale pidfile whose PID was reused by something else does not count). The
/// gateway's pidfile names its supervisor, or a gateway started before there was one.
fn cmdline_mark(service: Service) -> &'static str {
    match service {
        Service::Node => "node run",
        Service::Gateway => "gateway (run|supervise)",
        Service::Haproxy => "haproxy",
        Service::Keepalived => "keepalived",
    }
}

/// Shell functions shared by the scripts: `alive SERVICE` for detached services.
fn prelude(cluster: &Cluster, spec: &HostSpec) -> String {
    let mut s = String::from("set -u\n");
    for service in spec.services.iter().chain(&spec.retired) {
        s += &format!(
            "alive_{name}() {{ pid=$(cat {pidfile} 2>/dev/null) && [ -n \"$pid\" ] && kill -0 \"$pid\" 2>/dev/null && tr '\\0' ' ' < /proc/$pid/cmdline | grep -qE -- {mark}; }}\n",
            name = service.name(),
            pidfile = quote(&pidfile(cluster, *service)),
            mark = quote(cmdline_mark(*service)),
        );
    }
    s
}

/// The one command that reads everything `plan` needs. It starts a handful of processes
/// whatever the number of files (one `stat` and one `sha256sum` for all of them): on fifty
/// hosts sharing a few cores, process starts were most of a run with nothing to do.
pub fn inventory_script(cluster: &Cluster, spec: &HostSpec) -> String {
    let mut s = prelude(cluster, spec);
    s += "if [ -d /run/systemd/system ]; then echo systemd yes; else echo systemd no; fi\n";
    s += "echo arch $(uname -m)\n";
    let paths: Vec<String> = spec
        .files
        .iter()
        .map(|f| quote(&f.path.display().to_string()))
        .collect();
    // Mode, owner and path of the files there (the path last: it may hold spaces).
    s += &format!(
        "stat -c 'stat %a %U %n' -- {} 2>/dev/null\n",
        paths.join(" ")
    );
    let summed: Vec<&str> = spec
        .files
        .iter()
        .zip(&paths)
        .filter(|(f, _)| !f.quick)
        .map(|(_, p)| p.as_str())
        .collect();
    if !summed.is_empty() {
        s += &format!(
            "sha256sum -- {} 2>/dev/null | sed 's/^/sum /'\n",
            summed.join(" ")
        );
    }
    for (i, (f, path)) in spec.files.iter().zip(&paths).enumerate() {
        if f.quick {
            // Trust the recorded checksum while size and mtime are what they were.
            s += &format!(
                "if [ -f {path} ]; then st=$(stat -c '%s %Y' {path}); if [ \"$(sed -n 2p {path}.sha256 2>/dev/null)\" = \"$st\" ]; then sum=$(sed -n 1p {path}.sha256); else sum=$(sha256sum < {path} | cut -c1-64); fi; echo qsum {i} $sum; fi\n"
            );
        }
        if f.judge.is_some() {
            s += &format!("if [ -f {path} ]; then echo content {i} $(base64 -w0 < {path}); fi\n");
        }
    }
    for service in &spec.services {
        let name = service.name();
        s += &format!(
            "if alive_{name} || ([ -d /run/systemd/system ] && systemctl is-active --quiet {unit} 2>/dev/null); then echo service {name} up; else echo service {name} down; fi\n",
            unit = service.unit()
        );
        if matches!(service, Service::Haproxy | Service::Keepalived) {
            s += &format!("command -v {name} >/dev/null || echo missing {name}\n");
        }
    }
    for service in &spec.retired {
        let name = service.name();
        s += &format!(
            "if alive_{name} || ([ -d /run/systemd/system ] && systemctl is-active --quiet {unit} 2>/dev/null{ours}); then echo retired {name}; fi\n",
            unit = service.unit(),
            ours = retired_is_ours(*service),
        );
    }
    s += &format!(
        "for f in {}/pending-*; do [ -e \"$f\" ] && echo pending \"${{f##*/pending-}}\"; done\n",
        quote(&cluster.file.node.state_dir.display().to_string())
    );
    if let Some(user) = &cluster.file.node.service_user {
        s += &format!("echo uid $(id -u {} 2>/dev/null || echo -)\n", quote(user));
    }
    if spec.node.is_some() {
        s += &format!(
            "if [ -d {} ]; then echo storage yes; else echo storage no; fi\n",
            quote(&cluster.file.storage.path.display().to_string())
        );
        // The identities, as hex digits only (what else a file holds is not printed).
        let id = |path: PathBuf| {
            format!(
                "$(head -c 64 {} 2>/dev/null | tr -cd 0-9a-f)",
                quote(&path.display().to_string())
            )
        };
        s += &format!(
            "echo storage-id {}\necho expected-id {}\n",
            id(storage_id_path(cluster)),
            id(expected_id_path(cluster))
        );
    }
    s
}

/// The storage's identity file on a node host (made by the first node, or by provision).
pub fn storage_id_path(cluster: &Cluster) -> PathBuf {
    cluster.file.storage.path.join(".sftpha").join("storage-id")
}

/// Where a node host keeps the cluster's storage identity for its node (node.toml
/// `storage_id_file`).
pub fn expected_id_path(cluster: &Cluster) -> PathBuf {
    cluster.file.node.state_dir.join("storage-id")
}

/// The script that gives the storage the identity `id` if it has none yet (a new cluster:
/// provision names the storage before any node starts, so a node on another storage cannot).
pub fn storage_create_script(cluster: &Cluster, id: &str) -> String {
    let file = storage_id_path(cluster);
    let dir = file.parent().expect("a folder").display().to_string();
    let owner = match &cluster.file.node.service_user {
        Some(user) => format!(" && chown {}: {}", quote(user), quote(&dir)),
        None => String::new(),
    };
    format!(
        "set -e\numask 022\n[ -d {dir} ] || {{ mkdir -p {dir}{owner}; }}\n[ -s {file} ] || ( set -C; printf '%s\\n' {id} > {file} ) 2>/dev/null || true\n",
        dir = quote(&dir),
        file = quote(&file.display().to_string()),
    )
}

/// The script that tells a node host's node the cluster's storage identity `id`.
pub fn storage_id_script(cluster: &Cluster, id: &str) -> String {
    let mut s = String::from("set -e\numask 022\n");
    let expected = expected_id_path(cluster).display().to_string();
    s += &format!(
        "mkdir -p {dir}\nprintf '%s\\n' {id} > {tmp}\nmv -f {tmp} {file}\n",
        dir = quote(&cluster.file.node.state_dir.display().to_string()),
        tmp = quote(&format!("{expected}.new")),
        file = quote(&expected),
    );
    s
}

pub fn parse_inventory(spec: &HostSpec, out: &str) -> Result<Facts, String> {
    let mut facts = Facts {
        files: vec![None; spec.files.len()],
        running: Vec::new(),
        systemd: false,
        arch: String::new(),
        service_uid: None,
        storage: true,
        storage_id: None,
        expected_storage_id: None,
        missing: Vec::new(),
        retired_running: Vec::new(),
        pending: Vec::new(),
    };
    let index_of = |path: &str| spec.files.iter().position(|f| f.path.as_os_str() == path);
    let odd = |line: &str| format!("odd inventory line `{line}`");
    let mut sums: Vec<Option<String>> = vec![None; spec.files.len()];
    let mut contents: Vec<(usize, Vec<u8>)> = Vec::new();
    for line in out.lines() {
        // Lines that end in a path: split by position, not by words.
        if let Some(rest) = line.strip_prefix("stat ") {
            let mut parts = rest.splitn(3, ' ');
            let (Some(mode), Some(owner), Some(path)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(odd(line));
            };
            let mode = u32::from_str_radix(mode, 8).map_err(|_| odd(line))?;
            if let Some(i) = index_of(path) {
                facts.files[i] = Some(Found {
                    sha256: String::new(),
                    mode,
                    owner: owner.to_owned(),
                    content: None,
                });
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("sum ") {
            let (sum, path) = rest.split_once("  ").ok_or_else(|| odd(line))?;
            if let Some(i) = index_of(path) {
                sums[i] = Some(sum.to_owned());
            }
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let index = |i: &str| -> Result<usize, String> { i.parse().map_err(|_| odd(line)) };
        match words.as_slice() {
            ["systemd", v] => facts.systemd = *v == "yes",
            ["arch", v] => facts.arch = (*v).to_owned(),
            ["qsum", i, sum] => {
                if let Some(slot) = sums.get_mut(index(i)?) {
                    *slot = Some((*sum).to_owned());
                }
            }
            ["content", i] | ["content", i, _] => {
                let encoded = words.get(2).copied().unwrap_or("");
                let decoded = base64ct::Base64::decode_vec(encoded).map_err(|_| odd(line))?;
                contents.push((index(i)?, decoded));
            }
            ["service", name, state] => {
                if let Some(s) = spec.services.iter().find(|s| s.name() == *name) {
                    facts.running.push((*s, *state == "up"));
                }
            }
            ["missing", name] => facts.missing.push((*name).to_owned()),
            ["retired", name] => {
                if let Some(s) = spec.retired.iter().find(|s| s.name() == *name) {
                    facts.retired_running.push(*s);
                }
            }
            ["pending", marker] => {
                let (name, effect) = marker.split_once('-').ok_or_else(|| odd(line))?;
                let effect = match effect {
                    "restart" => Effect::Restart,
                    "reload" => Effect::Reload,
                    _ => return Err(odd(line)),
                };
                if let Some(s) = spec.services.iter().find(|s| s.name() == name) {
                    facts.pending.push((*s, effect));
                }
            }
            ["uid", uid] => facts.service_uid = uid.parse().ok(),
            ["storage", v] => facts.storage = *v == "yes",
            ["storage-id"] | ["expected-id"] => {}
            ["storage-id", id] if id.len() == 32 => facts.storage_id = Some((*id).to_owned()),
            ["expected-id", id] if id.len() == 32 => {
                facts.expected_storage_id = Some((*id).to_owned())
            }
            ["storage-id", _] | ["expected-id", _] => {}
            _ => return Err(odd(line)),
        }
    }
    // A file that is there but could not be read has no checksum: it differs.
    for (found, sum) in facts.files.iter_mut().zip(sums) {
        if let (Some(found), Some(sum)) = (found, sum) {
            found.sha256 = sum;
        }
    }
    // Content of a file that is not there is dropped, not attached to another.
    for (i, content) in contents {
        if let Some(Some(found)) = facts.files.get_mut(i) {
            found.content = Some(content);
        }
    }
    if facts.arch.is_empty() {
        return Err(format!(
            "the inventory printed nothing useful: `{}`",
            out.trim()
        ));
    }
    Ok(facts)
}

pub fn uses_systemd(cluster: &Cluster, facts: &Facts) -> bool {
    match cluster.file.node.service_manager {
        ServiceManager::Systemd => true,
        ServiceManager::Detached => false,
        ServiceManager::Auto => facts.systemd,
    }
}

/// Compares the spec with the facts.
pub fn plan(cluster: &Cluster, spec: &HostSpec, facts: &Facts) -> HostPlan {
    let systemd = uses_systemd(cluster, facts);
    let owner = cluster.file.node.service_user.as_deref().unwrap_or("root");
    let mut writes = Vec::new();
    let mut files = Vec::new();
    let mut effect: Vec<(Service, Effect)> = Vec::new();
    for (i, f) in spec.files.iter().enumerate() {
        if f.systemd_only && !systemd {
            continue;
        }
        let want_owner = if f.owned { owner } else { "root" };
        let action = match &facts.files[i] {
            None if f.absent => FileAction::Unchanged,
            Some(_) if f.absent => FileAction::Remove,
            None => FileAction::Create,
            Some(found) if found.sha256 != f.sha256 => FileAction::Change,
            Some(found) if found.mode != f.mode || found.owner != want_owner => FileAction::Mode,
            Some(_) => FileAction::Unchanged,
        };
        if action != FileAction::Unchanged {
            writes.push(i);
            let judged = match (f.judge, &facts.files[i]) {
                (
                    Some(judge),
                    Some(Found {
                        content: Some(old), ..
                    }),
                ) if action == FileAction::Change => Some(judge(old, &f.content)),
                _ => None,
            };
            match judged {
                Some(e) => effect.extend(f.affects.iter().map(|(s, _)| (*s, e))),
                None if action != FileAction::Mode => effect.extend(f.affects.iter().copied()),
                None => {}
            }
        }
        files.push(FileChange {
            item: f.item.clone(),
            path: f.path.display().to_string(),
            action,
        });
    }
    effect.extend(facts.pending.iter().copied());
    // Retired services stop first: the other gateway kind may need their port.
    let stops = facts.retired_running.iter().map(|service| ServiceChange {
        service: *service,
        action: ServiceAction::Stop,
    });
    let services = stops
        .chain(spec.services.iter().map(|service| {
            let running = facts.running.iter().any(|(s, up)| s == service && *up);
            let strongest = effect
                .iter()
                .filter(|(s, _)| s == service)
                .map(|(_, e)| *e)
                .max()
                .unwrap_or(Effect::None);
            let action = match (running, strongest) {
                (false, _) => ServiceAction::Start,
                (true, Effect::Restart) => ServiceAction::Restart,
                (true, Effect::Reload) => ServiceAction::Reload,
                (true, Effect::None) => ServiceAction::Unchanged,
            };
            ServiceChange {
                service: *service,
                action,
            }
        }))
        .collect();
    HostPlan {
        systemd,
        writes,
        files,
        services,
    }
}

/// Problems that stop this host before anything is written.
pub fn preflight(cluster: &Cluster, facts: &Facts, custom_binary: bool) -> Vec<String> {
    let mut problems = Vec::new();
    if !custom_binary && facts.arch != std::env::consts::ARCH {
        problems.push(format!(
            "the host is {} but this sftpha is built for {}: pass --node-binary with a build for {}",
            facts.arch,
            std::env::consts::ARCH,
            facts.arch
        ));
    }
    if !facts.storage {
        problems.push(format!(
            "the storage path {} does not exist: mount the shared storage there first (sftpha does not create it, so an unmounted share is not mistaken for an empty one)",
            cluster.file.storage.path.display()
        ));
    }
    if let Some(user) = &cluster.file.node.service_user {
        if facts.service_uid.is_none() {
            problems.push(format!(
                "node.service_user `{user}` does not exist: create it with the same uid on every host"
            ));
        }
    }
    for program in &facts.missing {
        problems.push(format!(
            "{program} is not installed (apt-get install {program})"
        ));
    }
    problems
}

/// Creates the folders the services need (and hands the writable ones to the service user).
pub fn prepare_script(cluster: &Cluster) -> String {
    let n = &cluster.file.node;
    let dirs: Vec<String> = [
        n.install_dir.join("bin"),
        n.config_dir.clone(),
        n.state_dir.clone(),
        n.log_dir.clone(),
    ]
    .iter()
    .map(|d| quote(&d.display().to_string()))
    .collect();
    let mut s = format!("set -e\nmkdir -p {}\n", dirs.join(" "));
    if let Some(user) = &n.service_user {
        s += &format!(
            "chown {u}: {} {}\n",
            quote(&n.state_dir.display().to_string()),
            quote(&n.log_dir.display().to_string()),
            u = quote(user)
        );
    }
    s
}

/// Creates users' homes on the storage (mode 0750, the service user's); existing ones are
/// left alone. The names were validated as users.toml homes (relative, no `..`).
pub fn homes_script(cluster: &Cluster, homes: &[String]) -> String {
    let storage = &cluster.file.storage.path;
    let mut s = String::from("set -e\n");
    for home in homes {
        let dir = quote(&storage.join(home).display().to_string());
        let owner = match &cluster.file.node.service_user {
            Some(user) => format!(" && chown {}: {dir}", quote(user)),
            None => String::new(),
        };
        s += &format!("if [ ! -e {dir} ]; then mkdir -p {dir} && chmod 0750 {dir}{owner}; fi\n");
    }
    s
}

/// Writes one file from stdin: temporary file, check, mode, owner, rename (or removes a file
/// that must not exist).
/// The script that writes `f`, its content read from stdin.
pub fn write_script(cluster: &Cluster, f: &Managed) -> String {
    write_steps(cluster, f, false)
}

/// One script, run by `sh -s` from stdin, that writes every file of `files` with its content
/// inline (base64): a host's small files in one round trip instead of one each. It stops at
/// the first file that fails and names it. No command in it reads the script's stdin.
pub fn write_all_script(cluster: &Cluster, files: &[&Managed]) -> String {
    // Each file's failure is caught below and named (a script before this may have set -e).
    let mut s = String::from("set +e\n");
    for f in files {
        s += "(\n";
        s += &write_steps(cluster, f, true);
        s += ") </dev/null\n";
        s += &format!(
            "if [ $? -ne 0 ]; then echo {} >&2; exit 1; fi\n",
            quote(&format!("writing {} failed", f.path.display()))
        );
    }
    s
}

fn write_steps(cluster: &Cluster, f: &Managed, inline: bool) -> String {
    let path = quote(&f.path.display().to_string());
    if f.absent {
        return format!("set -e\nrm -f {path}\n");
    }
    let dir = quote(
        &f.path
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "/".into()),
    );
    let tmp = format!(
        "{}/.sftpha-new.$$",
        f.path
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );
    let tmp_q = quote(&tmp).replace("$$'", "'\"$$\"");
    let mut s = format!("set -e\numask 077\nmkdir -p {dir}\nt={tmp_q}\ntrap 'rm -f \"$t\"' EXIT\n");
    if inline {
        // Base64 has no `_`: no line of it can end the here-document early.
        use base64ct::Encoding;
        let encoded = base64ct::Base64::encode_string(&f.content);
        s += "base64 -d > \"$t\" <<'SFTPHA_EOF'\n";
        for chunk in encoded.as_bytes().chunks(76) {
            s += std::str::from_utf8(chunk).expect("base64 is ASCII");
            s += "\n";
        }
        s += "SFTPHA_EOF\n";
    } else {
        s += "cat > \"$t\"\n";
    }
    if let Some(check) = f.check {
        s += &format!(
            "if ! out=$({} 2>&1 </dev/null); then echo \"the new {} was refused by its checker: $out\" >&2; exit 1; fi\n",
            check.replace("{}", "\"$t\""),
            f.item
        );
    }
    s += &format!("chmod {:o} \"$t\"\n", f.mode);
    if f.owned {
        if let Some(user) = &cluster.file.node.service_user {
            s += &format!("chown {}: \"$t\"\n", quote(user));
        }
    }
    s += &format!("mv -f \"$t\" {path}\ntrap - EXIT\n");
    if f.quick {
        s += &format!(
            "printf '%s\\n%s\\n' {} \"$(stat -c '%s %Y' {path})\" > {path}.sha256\n",
            f.sha256
        );
    }
    s
}

fn binary(cluster: &Cluster) -> String {
    quote(
        &cluster
            .file
            .node
            .install_dir
            .join("bin/sftpha")
            .display()
            .to_string(),
    )
}

/// How long a stop may take: the node drains its sessions first.
pub fn stop_limit(cluster: &Cluster) -> Duration {
    Duration::from_secs(cluster.file.node.drain_timeout_seconds + 15)
}

/// The command that brings `service` to `action`. The node's and the gateway's come from
/// templates/service.sh.j2, the script the playbook runs; HAProxy's and keepalived's are
/// written here (the playbook reloads HAProxy itself and leaves keepalived to `provision`).
pub fn service_script(
    cluster: &Cluster,
    renderer: &Renderer<'_>,
    spec: &HostSpec,
    service: Service,
    action: ServiceAction,
    systemd: bool,
    units_changed: bool,
) -> crate::error::Result<Option<String>> {
    let word = match action {
        ServiceAction::Unchanged => return Ok(None),
        ServiceAction::Stop => return Ok(Some(stop_script(cluster, spec, service))),
        ServiceAction::Start => "ensure",
        ServiceAction::Restart => "restart",
        ServiceAction::Reload => "reload",
    };
    if matches!(service, Service::Node | Service::Gateway) {
        return renderer
            .service_script(service.name(), word, systemd)
            .map(Some);
    }
    Ok(other_service_script(
        cluster,
        spec,
        service,
        action,
        systemd,
        units_changed,
    ))
}

/// HAProxy's and keepalived's start, restart and reload.
fn other_service_script(
    cluster: &Cluster,
    spec: &HostSpec,
    service: Service,
    action: ServiceAction,
    systemd: bool,
    units_changed: bool,
) -> Option<String> {
    let unit = service.unit();
    if systemd {
        let reload = if units_changed {
            "systemctl daemon-reload\n"
        } else {
            ""
        };
        let verb = match action {
            ServiceAction::Start => {
                format!("systemctl enable --quiet {unit}\nsystemctl start {unit}")
            }
            ServiceAction::Restart => format!("systemctl restart {unit}"),
            ServiceAction::Reload => format!("systemctl reload-or-restart {unit}"),
            ServiceAction::Unchanged | ServiceAction::Stop => return None,
        };
        return Some(format!("set -e\n{reload}{verb}\n"));
    }
    let n = &cluster.file.node;
    let name = service.name();
    let pid = quote(&pidfile(cluster, service));
    let log = quote(&n.log_dir.join(format!("{name}.log")).display().to_string());
    let config = |file: &str| quote(&n.config_dir.join(file).display().to_string());
    let as_user = match &n.service_user {
        Some(user) if matches!(service, Service::Node | Service::Gateway) => format!(
            "setpriv --reuid={u} --regid={u} --init-groups ",
            u = quote(user)
        ),
        _ => String::new(),
    };
    let stop_ticks = stop_limit(cluster).as_secs() * 10 - 50;
    let stop = format!(
        "if alive_{name}; then kill -TERM \"$pid\"; i=0; while kill -0 \"$pid\" 2>/dev/null && [ $i -lt {stop_ticks} ]; do sleep 0.1; i=$((i+1)); done; kill -KILL \"$pid\" 2>/dev/null || true; fi\n"
    );
    // Our services log to log_dir; HAProxy and keepalived report start-up errors on stderr.
    let tail_log = if matches!(service, Service::Node | Service::Gateway) {
        format!("; the end of its log:\" >&2; tail -n 5 {log} >&2")
    } else {
        "\" >&2".to_owned()
    };
    let started_check = format!(
        "sleep 0.3\nif ! alive_{name}; then echo \"{name} exited at once{tail_log}; exit 1; fi\n"
    );
    let mut s = prelude(cluster, spec);
    match service {
        Service::Node | Service::Gateway => {
            let cfg = config(if service == Service::Node {
                "node.toml"
            } else {
                "gateway.toml"
            });
            let start = format!(
                "nohup {as_user}{bin} {name} run --config {cfg} >> {log} 2>&1 < /dev/null &\necho $! > {pid}\n{started_check}",
                bin = binary(cluster)
            );
            match action {
                ServiceAction::Reload => {
                    s += &format!("if alive_{name}; then kill -HUP \"$pid\"; else {start}fi\n")
                }
                _ => {
                    s += &stop;
                    s += &start;
                }
            }
        }
        Service::Haproxy => {
            let cfg = quote(super::desired::HAPROXY_CFG);
            match action {
                ServiceAction::Start => s += &format!("haproxy -D -f {cfg} -p {pid}\n{started_check}"),
                _ => s += &format!(
                    "if alive_haproxy; then haproxy -D -f {cfg} -p {pid} -sf \"$pid\"; else haproxy -D -f {cfg} -p {pid}; fi\n{started_check}"
                ),
            }
        }
        Service::Keepalived => {
            let cfg = quote(super::desired::KEEPALIVED_CONF);
            let state = |f: &str| quote(&n.state_dir.join(f).display().to_string());
            let start = format!(
                "keepalived -f {cfg} -p {pid} -r {} -c {}\n{started_check}",
                state("keepalived-vrrp.pid"),
                state("keepalived-checkers.pid")
            );
            match action {
                ServiceAction::Start => s += &start,
                _ => {
                    s += &format!("if alive_keepalived; then kill -HUP \"$pid\"; else {start}fi\n")
                }
            }
        }
    }
    Some(s)
}

/// The inventory's test that a running retired service is ours under systemd: sftpha's own
/// units are; HAProxy only with the configuration sftpha rendered (an HAProxy serving
/// something else is not touched).
fn retired_is_ours(service: Service) -> &'static str {
    match service {
        Service::Haproxy => " && grep -qs 'Rendered by sftpha' /etc/haproxy/haproxy.cfg",
        _ => "",
    }
}

/// Stops and disables a retired service of ours: under systemd (its units, when ours), and
/// the detached process in its pidfile (given time to drain, then killed).
pub fn stop_script(cluster: &Cluster, spec: &HostSpec, service: Service) -> String {
    let name = service.name();
    let units = match service {
        Service::Gateway => "sftpha-gateway.socket sftpha-gateway".to_owned(),
        other => other.unit().to_owned(),
    };
    let ticks = stop_limit(cluster).as_secs() * 10;
    // HAProxy finishes its connections on SIGUSR1; ours drain on SIGTERM.
    let signal = if service == Service::Haproxy {
        "USR1"
    } else {
        "TERM"
    };
    let mut s = prelude(cluster, spec);
    s += &format!(
        "if [ -d /run/systemd/system ] && systemctl is-active --quiet {unit} 2>/dev/null{ours}; then systemctl disable --now --quiet {units}; fi\n",
        unit = service.unit(),
        ours = retired_is_ours(service),
    );
    s += &format!(
        "if alive_{name}; then kill -{signal} \"$pid\"; i=0; while kill -0 \"$pid\" 2>/dev/null && [ $i -lt {ticks} ]; do sleep 0.1; i=$((i+1)); done; kill -KILL \"$pid\" 2>/dev/null || true; fi\n"
    );
    s += &format!(
        "rm -f {} {}\necho stopped\n",
        quote(&pidfile(cluster, service)),
        quote(
            &cluster
                .file
                .node
                .state_dir
                .join(format!("{name}-worker.pid"))
                .display()
                .to_string()
        )
    );
    s
}

/// The marker of a service action planned but not yet done: made before the first file is
/// written, removed when the action succeeds; a run that dies between the two leaves it,
/// and the next run does the action.
pub fn pending_marker(
    cluster: &Cluster,
    service: Service,
    action: ServiceAction,
) -> Option<String> {
    let effect = match action {
        ServiceAction::Restart => "restart",
        ServiceAction::Reload => "reload",
        _ => return None,
    };
    Some(
        cluster
            .file
            .node
            .state_dir
            .join(format!("pending-{}-{effect}", service.name()))
            .display()
            .to_string(),
    )
}

/// `script` (a service action), then, if it succeeded, the removal of its pending marker.
pub fn clearing_marker(
    cluster: &Cluster,
    service: Service,
    action: ServiceAction,
    script: String,
) -> String {
    match pending_marker(cluster, service, action) {
        Some(marker) => format!("(\n{script}\n) && rm -f {}\n", quote(&marker)),
        None => script,
    }
}

/// Runs the inventory on a connected host.
pub async fn read_facts(
    remote: &Remote,
    cluster: &Cluster,
    spec: &HostSpec,
) -> Result<Facts, RemoteError> {
    let out = remote
        .exec(
            "reading the host's state",
            &inventory_script(cluster, spec),
            None,
            None,
        )
        .await?;
    parse_inventory(spec, &out.stdout_text()).map_err(|message| RemoteError::Ssh {
        addr: remote.addr.clone(),
        message,
    })
}
