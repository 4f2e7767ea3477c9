//! The command line's contracts, with no host to reach: JSON on every path with `--format
//! json`, artifacts printed raw, a closed stdout is success, errors name the flag, exit 3
//! when hosts cannot be reached, and commands that only push never make the cluster's keys.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use assert_cmd::assert::OutputAssertExt;
use predicates::prelude::*;

use crate::harness::*;

/// A cluster on addresses nothing answers on (198.18.250.0/24 is never a fake host), with a
/// working identity so that only the hosts are missing.
struct Offline {
    dir: tempfile::TempDir,
}

impl Offline {
    fn new() -> Offline {
        let dir = tempfile::Builder::new()
            .prefix("sftpha-offline-")
            .tempdir()
            .unwrap();
        keygen(&dir.path().join("operator"), "ed25519");
        keygen(&dir.path().join("bob"), "ed25519");
        std::fs::write(
            dir.path().join("cluster.toml"),
            "name = \"offline\"\nusers = \"users.toml\"\n[ssh]\nidentity = \"operator\"\ntimeout_seconds = 2\n[storage]\npath = \"/srv/sftpha\"\n[[nodes]]\nname = \"n1\"\nhost = \"198.18.250.11\"\n[[nodes]]\nname = \"n2\"\nhost = \"198.18.250.12\"\n[gateway]\nhosts = [\"198.18.250.21\"]\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("users.toml"), "# partners\n").unwrap();
        Offline { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn key(&self, name: &str) -> PathBuf {
        self.path().join(format!("{name}.pub"))
    }

    /// `sftpha -c cluster.toml ARGS`, stdout a pipe (not a terminal), run and captured.
    fn run(&self, args: &[&str]) -> assert_cmd::assert::Assert {
        sftpha()
            .arg("-c")
            .arg(self.path().join("cluster.toml"))
            .args(args)
            .assert()
    }
}

/// With `--format json`, an error is JSON on stdout (and text on stderr), for mistakes
/// clap finds and ours alike; without it stdout stays empty.
#[test]
fn errors_are_json_on_stdout_with_format_json() {
    for (args, kind) in [
        (&["--format", "json", "frobnicate"][..], "usage"),
        (&["--format=json", "test-failover"][..], "usage"),
        (
            &[
                "--format",
                "json",
                "-c",
                "/nonexistent/cluster.toml",
                "status",
            ][..],
            "read_file",
        ),
    ] {
        let out = sftpha()
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("error"));
        let json = json_of(&out);
        assert_eq!(json["error"]["kind"], kind, "{args:?}: {json}");
        assert!(
            json["error"]["message"].as_str().unwrap().len() > 5,
            "{json}"
        );
        assert!(json["error"].get("hint").is_some(), "{json}");
        // One JSON document, pretty like every other, the keys in this order.
        let text = stdout_of(&out);
        let (k, m, h) = (
            text.find("\"kind\"").unwrap(),
            text.find("\"message\"").unwrap(),
            text.find("\"hint\"").unwrap(),
        );
        assert!(k < m && m < h, "{args:?}: {text}");
        assert!(text.starts_with("{\n  \"error\": {"), "{args:?}: {text}");
    }
    // The message is the error without its `error: ` prefix; our own hints come along.
    let out = sftpha()
        .args(["--format", "json", "--frobnicate"])
        .assert()
        .code(2);
    let message = json_of(&out)["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.starts_with("unexpected argument '--frobnicate'"),
        "{message}"
    );
    let out = sftpha()
        .args([
            "--format=json",
            "-c",
            "/nonexistent/cluster.toml",
            "users",
            "list",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "error: could not read `/nonexistent/cluster.toml`",
        ));
    let e = &json_of(&out)["error"];
    assert_eq!(e["kind"], "read_file", "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/cluster.toml"),
        "{e}"
    );
    // Without --format json stdout stays empty.
    sftpha()
        .arg("test-failover")
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty());
    // `lab down` on a folder that does not exist: JSON too.
    let out = sftpha()
        .args([
            "--format",
            "json",
            "lab",
            "down",
            "--dir",
            "/nonexistent/sftpha-lab",
        ])
        .assert()
        .success();
    let json = json_of(&out);
    assert_eq!(json["lab"], false);
    assert_eq!(json["stopped"], serde_json::json!([]));
}

/// A reader that goes away (`| head -1`) is no error: no panic, no error, and the exit code
/// the command would have had (0 for these, 1 for a failing assessment).
#[test]
fn a_closed_stdout_is_success() {
    let healthy = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/assess/healthy.toml");
    let healthy = healthy.to_str().unwrap();
    let f = Fixture::new();
    f.write_users();
    let node = f.path().join("n1.toml");
    std::fs::write(&node, f.node_toml("n1")).unwrap();
    let node = node.to_str().unwrap();
    // The healthy design next to the fixture's users.toml.
    let cluster = f.path().join("cluster.toml");
    std::fs::copy(healthy, &cluster).unwrap();
    let cluster = cluster.to_str().unwrap();
    let cases: [&[&str]; 11] = [
        &["completions", "bash"],
        &["man"],
        &["--help"],
        &["--version"],
        &["-c", healthy, "inventory", "--list"],
        &["-c", healthy, "--format", "json", "assess"],
        &["-c", healthy, "--format", "markdown", "assess"],
        &["--format", "human", "node", "check", "--config", node],
        &["--format", "json", "node", "check", "--config", node],
        &["-c", cluster, "--format", "json", "users", "list"],
        &["-c", cluster, "--format", "human", "users", "list"],
    ];
    for args in cases {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        Command::new(BIN)
            .args(args)
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .output()
            .unwrap()
            .assert()
            .code(0)
            .stderr(predicate::str::contains("panicked").not())
            .stderr(predicate::str::contains("error").not());
    }
    // The verdict still decides: a failing design fails with its reader gone, as a CI gate
    // `sftpha assess | head` under pipefail must.
    let failing =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/assess/single_nas.toml");
    for format in ["json", "human", "markdown"] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        Command::new(BIN)
            .arg("-c")
            .arg(&failing)
            .args(["--format", format, "assess"])
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .output()
            .unwrap()
            .assert()
            .code(1)
            .stderr(predicate::str::contains("panicked").not());
    }
}

/// known_hosts lines are printed as lines into a file (the README's procedure), every host key
/// type included; JSON only when asked for.
#[test]
fn known_hosts_lines_are_raw_and_name_every_key_type() {
    let site = Offline::new();
    site.run(&["keys", "init"]).success();
    let out = site.run(&["keys", "known-hosts", "--ca"]).success();
    let ca = stdout_of(&out);
    assert_eq!(ca.lines().count(), 1, "{ca}");
    assert!(
        ca.starts_with("@cert-authority ") && ca.contains("[198.18.250.21]:2222"),
        "{ca}"
    );
    let out = site.run(&["keys", "known-hosts", "--plain"]).success();
    let plain = stdout_of(&out);
    let kinds: Vec<&str> = plain
        .lines()
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"],
        "{plain}"
    );
    let out = site
        .run(&["--format", "json", "keys", "known-hosts"])
        .success();
    let json = json_of(&out);
    assert_eq!(json["lines"].as_array().unwrap().len(), 4, "{json}");

    // A cluster from before ECDSA and RSA keys: the ed25519 key is kept byte for byte and
    // `keys init` makes the others; until then known-hosts prints what exists.
    let keys = site.path().join("keys");
    let ed25519 = std::fs::read(keys.join("ssh_host_ed25519_key")).unwrap();
    for entry in std::fs::read_dir(&keys).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("ssh_host_ecdsa") || name.starts_with("ssh_host_rsa") {
            std::fs::remove_file(entry.path()).unwrap();
        }
    }
    site.run(&["keys", "known-hosts", "--plain"])
        .success()
        .stdout(predicate::function(|s: &str| s.lines().count() == 1))
        .stderr(predicate::str::contains("keys init"));
    let out = site.run(&["--format", "human", "keys", "init"]).success();
    let made = stdout_of(&out);
    assert!(
        made.contains("ssh_host_ecdsa_key") && made.contains("ssh_host_rsa_key"),
        "{made}"
    );
    assert_eq!(
        std::fs::read(keys.join("ssh_host_ed25519_key")).unwrap(),
        ed25519
    );
    site.run(&["keys", "known-hosts", "--plain"])
        .success()
        .stdout(predicate::function(|s: &str| s.lines().count() == 3));
}

/// `users add` never makes the cluster's keys (a cluster never provisioned is edited and not
/// pushed), names its push as such, blames the flag for a bad right, and exits 3 when no host
/// can be reached; so does `status`.
#[test]
fn users_commands_make_no_keys_and_unreachable_hosts_exit_3() {
    let site = Offline::new();
    let bob = site.key("bob");
    let bob = bob.to_str().unwrap();
    let out = site
        .run(&["--format", "human", "users", "add", "bob", "--key", bob])
        .code(0);
    let said = stdout_of(&out);
    assert!(
        said.contains("not pushed") && said.contains("never provisioned"),
        "{said}"
    );
    assert!(
        !site.path().join("keys").exists(),
        "no key made by `users add`"
    );

    let users = std::fs::read_to_string(site.path().join("users.toml")).unwrap();
    let out = site
        .run(&[
            "users",
            "add",
            "carol",
            "--key",
            bob,
            "--permissions",
            "list,reed",
            "--no-push",
        ])
        .code(2);
    let err = stderr_of(&out);
    assert!(
        err.contains("--permissions")
            && err.contains("`reed`")
            && err.contains("list, read, write"),
        "{err}"
    );
    assert!(
        !err.contains("users.toml"),
        "the flag is wrong, not the file: {err}"
    );
    assert_eq!(
        std::fs::read_to_string(site.path().join("users.toml")).unwrap(),
        users
    );

    site.run(&["keys", "init"]).success();
    keygen(&site.path().join("dave"), "ed25519");
    let dave = site.key("dave");
    let out = site
        .run(&[
            "--format",
            "human",
            "users",
            "add",
            "dave",
            "--key",
            dave.to_str().unwrap(),
        ])
        .code(3);
    let said = stdout_of(&out);
    assert!(
        said.contains("push of users.toml: cluster offline"),
        "{said}"
    );
    assert!(
        !said.contains("provision:") && !said.contains("generated"),
        "{said}"
    );

    let out = site.run(&["--format", "json", "status"]).code(3);
    let status = json_of(&out);
    assert!(status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["unreachable"] == true));
}

/// One JSON style: every command prints one pretty-printed document on stdout.
#[test]
fn json_is_one_pretty_document_everywhere() {
    let healthy = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/assess/healthy.toml");
    let f = Fixture::new();
    f.write_users();
    let node = f.path().join("n1.toml");
    std::fs::write(&node, f.node_toml("n1")).unwrap();
    let empty = tempfile::tempdir().unwrap();
    let cases: Vec<Vec<String>> = vec![
        vec!["-c".into(), healthy.display().to_string(), "assess".into()],
        vec![
            "node".into(),
            "check".into(),
            "--config".into(),
            node.display().to_string(),
        ],
        vec![
            "lab".into(),
            "down".into(),
            "--dir".into(),
            empty.path().display().to_string(),
        ],
        vec![
            "-c".into(),
            healthy.display().to_string(),
            "inventory".into(),
            "--list".into(),
        ],
    ];
    for args in cases {
        let out = sftpha().args(["--format", "json"]).args(&args).assert();
        let text = stdout_of(&out);
        let value: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}\n{text}"));
        assert!(value.is_object(), "{args:?}: {text}");
        assert!(
            text.lines().count() > 2 && text.starts_with("{\n"),
            "{args:?} is not pretty-printed:\n{text}"
        );
    }
}
