//! The command line itself: help, exit codes, and generated files kept current.

use std::path::Path;
use std::process::Command;

use crate::harness::*;

const SHELLS: [(&str, &str); 4] = [
    ("bash", "sftpha.bash"),
    ("zsh", "_sftpha"),
    ("fish", "sftpha.fish"),
    ("elvish", "sftpha.elv"),
];

/// The checked-in completions and man page are what the binary generates now; run
/// `scripts/gen` after changing the command line.
#[test]
fn generated_files_are_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (shell, file) in SHELLS {
        let out = run_ok(Command::new(BIN).args(["completions", shell]));
        let path = root.join("completions").join(file);
        let checked_in = std::fs::read(&path).unwrap_or_default();
        assert!(
            checked_in == out.stdout,
            "{} is stale: run scripts/gen",
            path.display()
        );
    }
    let out = run_ok(Command::new(BIN).arg("man"));
    let path = root.join("man/sftpha.1");
    assert!(
        std::fs::read(&path).unwrap_or_default() == out.stdout,
        "{} is stale: run scripts/gen",
        path.display()
    );
}

#[test]
fn usage_errors_exit_2() {
    let out = run(Command::new(BIN).args(["node", "run"]));
    assert_eq!(out.status.code(), Some(2));
    let out = run(Command::new(BIN).arg("frobnicate"));
    assert_eq!(out.status.code(), Some(2));
    let out = run(Command::new(BIN).args(["node", "run", "--config", "/nonexistent/node.toml"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/node.toml"));
    let out = run_ok(Command::new(BIN).arg("--help"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Exit codes"));
}

#[test]
fn node_check_reports_what_it_would_serve() {
    let f = Fixture::new();
    f.write_users();
    let config = f.path().join("n1.toml");
    std::fs::write(&config, f.node_toml("n1")).unwrap();
    let out = run_ok(
        Command::new(BIN)
            .args(["--format", "json", "node", "check", "--config"])
            .arg(&config),
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["node"], "n1");
    assert_eq!(report["users"], 1);
    // Nodes that differ only by name have the same checksum.
    let n2 = f.node_toml("n1").replace("name = \"n1\"", "name = \"n2\"");
    std::fs::write(f.path().join("n2.toml"), n2).unwrap();
    let out2 = run_ok(
        Command::new(BIN)
            .args(["--format", "json", "node", "check", "--config"])
            .arg(f.path().join("n2.toml")),
    );
    let report2: serde_json::Value = serde_json::from_slice(&out2.stdout).unwrap();
    assert_eq!(report["config_checksum"], report2["config_checksum"]);
}

/// users.toml holds password hashes: `init` writes it for its owner only, and `users add`
/// never leaves it readable by others.
#[test]
fn users_toml_with_password_hashes_is_not_world_readable() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cluster = dir.path().join("cluster.toml");
    run_ok(
        Command::new(BIN)
            .args(["--yes", "-c"])
            .arg(&cluster)
            .arg("init"),
    );
    let users = dir.path().join("users.toml");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&users), 0o600);
    // An operator's own 0644 file is narrowed when a hash goes in.
    std::fs::set_permissions(&users, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run_with_input(
        Command::new(BIN).args(["-c"]).arg(&cluster).args([
            "users",
            "add",
            "carol",
            "--password",
            "--no-push",
        ]),
        b"a long enough password\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&users).unwrap();
    assert!(text.contains("$argon2id$"), "{text}");
    assert_eq!(mode(&users) & 0o007, 0, "mode {:o}", mode(&users));
}
