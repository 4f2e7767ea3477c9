//! The command line, driven with `assert_cmd`, for everything that needs no root, no host and
//! no running process: help and version, usage errors (exit 2, the flag named), bad
//! configuration files (the file, key and line named), `init`, `assess`, `node check`, `users`
//! on a local users.toml, `inventory`, `completions`, `man`, a reader that stops early; and the
//! generated files kept current.

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use assert_cmd::assert::OutputAssertExt;
use predicates::prelude::*;
use serde_json::Value;

use crate::harness::*;

const SHELLS: [(&str, &str); 4] = [
    ("bash", "sftpha.bash"),
    ("zsh", "_sftpha"),
    ("fish", "sftpha.fish"),
    ("elvish", "sftpha.elv"),
];

const COMMANDS: [&str; 15] = [
    "init",
    "assess",
    "provision",
    "users",
    "keys",
    "import",
    "upgrade",
    "status",
    "inventory",
    "node",
    "gateway",
    "lab",
    "test-failover",
    "completions",
    "man",
];

fn assess_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/assess")
        .join(format!("{name}.toml"))
}

/// The 1-based line of the first line of `text` that starts with `prefix`.
fn line_of(text: &str, prefix: &str) -> usize {
    text.lines()
        .position(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{text}"))
        + 1
}

/// The checked-in completions and man page are what the binary generates now; run
/// `scripts/gen` after changing the command line.
#[test]
fn generated_files_are_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (shell, file) in SHELLS {
        let out = sftpha().args(["completions", shell]).assert().success();
        let path = root.join("completions").join(file);
        let checked_in = std::fs::read(&path).unwrap_or_default();
        assert!(
            checked_in == out.get_output().stdout,
            "{} is stale: run scripts/gen",
            path.display()
        );
    }
    let out = sftpha().arg("man").assert().success();
    let path = root.join("man/sftpha.1");
    assert!(
        std::fs::read(&path).unwrap_or_default() == out.get_output().stdout,
        "{} is stale: run scripts/gen",
        path.display()
    );
    // One page per command, every one current, none left over from a command that is gone.
    let listed = sftpha().args(["man", "--list"]).assert().success();
    let mut expected = vec!["sftpha.1".to_owned()];
    for command in stdout_of(&listed).lines() {
        let section = if command.ends_with(".toml") { 5 } else { 1 };
        let file = format!("sftpha-{}.{section}", command.replace(' ', "-"));
        let page = sftpha()
            .arg("man")
            .args(command.split(' '))
            .assert()
            .success();
        let path = root.join("man").join(&file);
        assert!(
            std::fs::read(&path).unwrap_or_default() == page.get_output().stdout,
            "{} is stale or missing: run scripts/gen",
            path.display()
        );
        expected.push(file);
    }
    assert!(expected.len() > 20, "{expected:?}");
    let mut present: Vec<String> = std::fs::read_dir(root.join("man"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    present.sort();
    expected.sort();
    assert_eq!(present, expected, "man/ holds exactly the generated pages");
    let page = sftpha().args(["man", "users", "add"]).assert().success();
    assert!(
        stdout_of(&page).contains(".TH sftpha-users-add 1"),
        "{}",
        stdout_of(&page)
    );
    sftpha()
        .args(["man", "users", "frob"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "`sftpha users frob` is not a command",
        ));
}

/// `--help` (and `help`) on stdout, exit 0: every command and the exit codes; `-h` is the
/// summary, every command without the long text.
#[test]
fn help_lists_every_command_and_the_exit_codes() {
    for args in [&["--help"][..], &["help"], &["-h"]] {
        let out = sftpha()
            .args(args)
            .assert()
            .code(0)
            .stderr(predicate::str::is_empty());
        let help = stdout_of(&out);
        if args != ["-h"] {
            assert!(help.contains("Exit codes"), "{args:?}:\n{help}");
            assert!(
                help.contains("2 usage or configuration error; 3 could not reach"),
                "{args:?}:\n{help}"
            );
        }
        for command in COMMANDS {
            assert!(
                help.lines()
                    .any(|l| l.trim_start().starts_with(&format!("{command} "))),
                "{args:?}: `{command}` not listed:\n{help}"
            );
        }
        for flag in ["--cluster", "--format", "--verbose", "--quiet", "--yes"] {
            assert!(help.contains(flag), "{args:?}: {flag} not in:\n{help}");
        }
    }
    sftpha().args(["users", "--help"]).assert().code(0).stdout(
        predicate::str::contains("add")
            .and(predicate::str::contains("remove"))
            .and(predicate::str::contains("list"))
            .and(predicate::str::contains("set-key")),
    );
    sftpha()
        .args(["help", "assess"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("--fail-on").and(predicate::str::contains("--probe")));
}

/// `--version` prints the crate's version, on every subcommand too (clap names the
/// subcommand there: `sftpha-node 0.1.0`).
#[test]
fn version_is_the_crate_version() {
    let version = env!("CARGO_PKG_VERSION");
    for (args, expected) in [
        (&["--version"][..], format!("sftpha {version}\n")),
        (&["-V"], format!("sftpha {version}\n")),
        (&["node", "--version"], format!("sftpha-node {version}\n")),
    ] {
        sftpha()
            .args(args)
            .assert()
            .code(0)
            .stdout(predicate::eq(expected.as_str()))
            .stderr(predicate::str::is_empty());
    }
}

/// Mistakes on the command line exit 2 with `error:` on stderr naming what was wrong, and
/// nothing on stdout.
#[test]
fn usage_errors_exit_2() {
    // A required flag missing: named.
    sftpha()
        .args(["node", "run"])
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("error:").and(predicate::str::contains("--config")));
    // An unknown command: named, with where to look.
    sftpha()
        .arg("frobnicate")
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(
            predicate::str::contains("error:")
                .and(predicate::str::contains("'frobnicate'"))
                .and(predicate::str::contains("--help")),
        );
    // An unknown flag: named.
    sftpha()
        .args(["assess", "--frobnicate"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("error:").and(predicate::str::contains("--frobnicate")));
    // A bad value: the flag and the values it takes.
    sftpha()
        .args(["--format", "yaml", "assess"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("'yaml'")
                .and(predicate::str::contains("--format"))
                .and(predicate::str::contains("human"))
                .and(predicate::str::contains("json"))
                .and(predicate::str::contains("markdown")),
        );
    sftpha()
        .args(["assess", "--fail-on", "extreme"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("--fail-on")
                .and(predicate::str::contains("'extreme'"))
                .and(predicate::str::contains("never")),
        );
    sftpha()
        .args(["--yes", "init", "--rto", "soon"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--rto").and(predicate::str::contains("'soon'")));
    sftpha()
        .args(["completions", "tcsh"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("'tcsh'")
                .and(predicate::str::contains("bash"))
                .and(predicate::str::contains("zsh")),
        );
    // -v and -q contradict each other.
    sftpha()
        .args(["-v", "-q", "man"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--verbose").and(predicate::str::contains("--quiet")));
    // A configuration file that is not there: the path as written.
    sftpha()
        .args(["node", "run", "--config", "/nonexistent/node.toml"])
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(
            predicate::str::contains("error: could not read `/nonexistent/node.toml`")
                .and(predicate::str::contains("No such file")),
        );
    sftpha()
        .args(["-c", "/nonexistent/cluster.toml", "assess"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("/nonexistent/cluster.toml"));
    // Our own usage errors carry a hint.
    sftpha()
        .args(["--format", "markdown", "users", "list"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("error: `--format markdown` is only for `assess` and `init`")
                .and(predicate::str::contains(
                    "hint: use `--format human` or `--format json`",
                )),
        );
}

/// Runs `sftpha ARGS` with and without `--format json` and checks the configuration error:
/// exit 2, `path`, `key` and `line` named on stderr and in the JSON error, with a hint.
fn assert_config_error(args: &[&std::ffi::OsStr], path: &Path, key: &str, line: usize) {
    for json in [false, true] {
        let mut cmd = sftpha();
        if json {
            cmd.args(["--format", "json"]);
        }
        let out = cmd.args(args).assert().code(2);
        let err = stderr_of(&out);
        let what = format!("{} `{key}`", path.display());
        assert!(
            err.contains(&format!("error: invalid `{}`", path.display())),
            "{what}: the file is not named:\n{err}"
        );
        assert!(
            err.contains(&format!("`{key}`")),
            "{what}: the key is not named:\n{err}"
        );
        assert!(
            err.contains(&format!("(line {line}, column ")),
            "{what}: line {line} is not named:\n{err}"
        );
        assert!(
            err.contains("hint: fix the file and run again"),
            "{what}: no hint:\n{err}"
        );
        if json {
            let e = &json_of(&out)["error"];
            assert_eq!(e["kind"], "config", "{what}: {e}");
            let message = e["message"].as_str().unwrap();
            assert!(
                message.contains(&path.display().to_string())
                    && message.contains(&format!("`{key}`"))
                    && message.contains(&format!("line {line}")),
                "{what}: {e}"
            );
            // The hint names the reference page of the file's format, and that page has the key.
            let hint = e["hint"].as_str().unwrap();
            let page = hint
                .split("`sftpha man ")
                .nth(1)
                .and_then(|rest| rest.split('`').next())
                .unwrap_or_else(|| panic!("{what}: no page in the hint: {hint}"));
            let mut plain = String::new();
            for part in key.split('[') {
                match part.split_once(']') {
                    Some((_index, rest)) => plain += &format!("[]{rest}"),
                    None => plain += part,
                }
            }
            let text = stdout_of(&sftpha().args(["man", page]).assert().success());
            if message.contains("unknown field") {
                assert!(hint.contains("documents every key"), "{what}: {hint}");
            } else {
                assert!(
                    hint.contains(&format!("documents `{plain}`")),
                    "{what}: {hint}"
                );
                let leaf = key.rsplit('.').next().unwrap();
                assert!(
                    text.contains(&format!(".B {leaf}\n")),
                    "{what}: {page} lacks {leaf}"
                );
            }
        } else {
            assert!(out.get_output().stdout.is_empty(), "{what}");
        }
    }
}

/// A folder with a node.toml (`n1.toml`), users.toml, cluster.toml (the healthy design, its
/// users in users.toml) and the arguments that read each: (fixture, node check, users list).
fn config_site() -> (Fixture, Vec<std::ffi::OsString>, Vec<std::ffi::OsString>) {
    let f = Fixture::new();
    f.write_users();
    std::fs::write(f.path().join("n1.toml"), f.node_toml("n1")).unwrap();
    std::fs::copy(assess_fixture("healthy"), f.path().join("cluster.toml")).unwrap();
    let node_check = vec![
        "node".into(),
        "check".into(),
        "--config".into(),
        f.path().join("n1.toml").into_os_string(),
    ];
    let users_list = vec![
        "-c".into(),
        f.path().join("cluster.toml").into_os_string(),
        "users".into(),
        "list".into(),
    ];
    (f, node_check, users_list)
}

fn os(args: &[std::ffi::OsString]) -> Vec<&std::ffi::OsStr> {
    args.iter().map(|a| a.as_os_str()).collect()
}

/// Configuration files with an unknown key or broken TOML: exit 2, and the error names the
/// file, the key and the line, with a hint; on stdout as JSON with `--format json`.
#[test]
fn bad_config_files_name_the_file_key_and_line() {
    let (f, node_check, users_list) = config_site();
    let dir = f.path();
    let node = f.node_toml("n1");

    // node.toml, read by `node check`.
    let path = dir.join("n1.toml");
    let text = format!("{node}max_sesions = 10\n");
    std::fs::write(&path, &text).unwrap();
    assert_config_error(
        &os(&node_check),
        &path,
        "max_sesions",
        line_of(&text, "max_sesions"),
    );
    std::fs::write(&path, &node).unwrap();

    // cluster.toml, read by `assess`, `users` and `inventory`.
    let path = dir.join("cluster.toml");
    let healthy = std::fs::read_to_string(&path).unwrap();
    let text = format!("{healthy}[node]\nprot = 2222\n");
    std::fs::write(&path, &text).unwrap();
    let line = line_of(&text, "prot");
    for command in [
        &["assess"][..],
        &["users", "list"],
        &["inventory", "--list"],
    ] {
        let mut args: Vec<&std::ffi::OsStr> = vec!["-c".as_ref(), path.as_os_str()];
        args.extend(command.iter().map(|a| std::ffi::OsStr::new(*a)));
        assert_config_error(&args, &path, "prot", line);
    }
    std::fs::write(&path, &healthy).unwrap();

    // users.toml, read by `users list` and by `node check`.
    let path = dir.join("users.toml");
    let text = format!("{}nmae = \"x\"\n", f.users_toml());
    std::fs::write(&path, &text).unwrap();
    let line = line_of(&text, "nmae");
    assert_config_error(&os(&users_list), &path, "nmae", line);
    assert_config_error(&os(&node_check), &path, "nmae", line);
    f.write_users();

    // Broken TOML: the file and the line of the mistake.
    let path = dir.join("n1.toml");
    std::fs::write(&path, format!("{node}name = \"unterminated\n")).unwrap();
    let out = sftpha().args(&node_check).assert().code(2);
    let err = stderr_of(&out);
    let line = node.lines().count() + 1;
    assert!(
        err.contains(&format!("error: invalid `{}`", path.display()))
            && err.contains(&format!("(line {line}, column ")),
        "{err}"
    );
}

/// A value of the wrong type is named by its key too, as the README promises ("Unknown keys
/// and bad values are errors that name the file, the line and the key").
#[test]
fn bad_values_name_their_key() {
    let (f, node_check, users_list) = config_site();
    let dir = f.path();

    let path = dir.join("n1.toml");
    let text = format!("{}max_sessions = \"many\"\n", f.node_toml("n1"));
    std::fs::write(&path, &text).unwrap();
    assert_config_error(
        &os(&node_check),
        &path,
        "max_sessions",
        line_of(&text, "max_sessions"),
    );
    std::fs::write(&path, f.node_toml("n1")).unwrap();

    let path = dir.join("cluster.toml");
    let healthy = std::fs::read_to_string(&path).unwrap();
    for (text, key, prefix) in [
        (
            format!("{healthy}[node]\nport = \"twenty-two\"\n"),
            "node.port",
            "port",
        ),
        (
            healthy.replace("replicas = 2", "replicas = -2"),
            "storage.replicas",
            "replicas",
        ),
    ] {
        std::fs::write(&path, &text).unwrap();
        let args: Vec<&std::ffi::OsStr> = vec!["-c".as_ref(), path.as_os_str(), "assess".as_ref()];
        assert_config_error(&args, &path, key, line_of(&text, prefix));
    }
    std::fs::write(&path, &healthy).unwrap();

    let path = dir.join("users.toml");
    let text = format!(
        "{}[[users]]\nname = \"x\"\nkeys = \"not a list\"\n",
        f.users_toml()
    );
    std::fs::write(&path, &text).unwrap();
    assert_config_error(
        &os(&users_list),
        &path,
        "users[1].keys",
        line_of(&text, "keys = \"not"),
    );
}

#[test]
fn node_check_reports_what_it_would_serve() {
    let f = Fixture::new();
    f.write_users();
    let config = f.path().join("n1.toml");
    std::fs::write(&config, f.node_toml("n1")).unwrap();
    let out = sftpha()
        .args(["--format", "json", "node", "check", "--config"])
        .arg(&config)
        .assert()
        .success();
    let report = json_of(&out);
    assert_eq!(report["node"], "n1");
    assert_eq!(report["users"], 1);
    assert_eq!(report["listen"], "127.0.0.1:0");
    assert_eq!(report["upload_mode"], "atomic");
    assert_eq!(report["proxy_protocol"], "off");
    let fingerprints = report["host_key_fingerprints"].as_array().unwrap();
    assert_eq!(fingerprints.len(), 1, "{report}");
    assert!(
        fingerprints[0].as_str().unwrap().contains("SHA256:"),
        "{report}"
    );
    // Nodes that differ only by name have the same checksum.
    let n2 = f.node_toml("n1").replace("name = \"n1\"", "name = \"n2\"");
    std::fs::write(f.path().join("n2.toml"), n2).unwrap();
    let out2 = sftpha()
        .args(["--format", "json", "node", "check", "--config"])
        .arg(f.path().join("n2.toml"))
        .assert()
        .success();
    let report2 = json_of(&out2);
    assert_eq!(report2["node"], "n2");
    assert_eq!(report["config_checksum"], report2["config_checksum"]);
    assert!(report["config_checksum"].as_str().unwrap().len() >= 16);

    // The same as text.
    let out = sftpha()
        .args(["--format", "human", "node", "check", "--config"])
        .arg(&config)
        .assert()
        .success();
    let text = stdout_of(&out);
    assert!(
        text.starts_with(&format!("{} is valid\n", config.display())),
        "{text}"
    );
    for expected in [
        "  node             n1".to_owned(),
        "  users            1 (".to_owned(),
        format!("  host key         {}", fingerprints[0].as_str().unwrap()),
        format!(
            "  config checksum  {}",
            report["config_checksum"].as_str().unwrap()
        ),
    ] {
        assert!(text.contains(&expected), "{expected:?} not in:\n{text}");
    }
}

/// What `node check` refuses: a host key others can read, a missing host key, a storage that
/// is not a folder; exit 2, the file or key named.
#[test]
fn node_check_refuses_what_the_node_could_not_serve() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fixture::new();
    f.write_users();
    let config = f.path().join("n1.toml");
    let check = |text: String| {
        std::fs::write(&config, text).unwrap();
        sftpha()
            .args(["--format", "json", "node", "check", "--config"])
            .arg(&config)
            .assert()
            .code(2)
    };
    let key = &f.host_keys[0];
    std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = check(f.node_toml("n1"));
    let e = &json_of(&out)["error"];
    assert_eq!(e["kind"], "host_key", "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains(&key.display().to_string()),
        "{e}"
    );
    assert!(stderr_of(&out).contains("hint: host keys are OpenSSH private key files"));
    std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o600)).unwrap();

    let out = check(
        f.node_toml("n1")
            .replace(&key.display().to_string(), "/nonexistent/host_key"),
    );
    assert!(
        stderr_of(&out).contains("/nonexistent/host_key"),
        "{}",
        stderr_of(&out)
    );

    let out = check(
        f.node_toml("n1")
            .replace("storage = \"storage\"", "storage = \"no-such-storage\""),
    );
    let e = &json_of(&out)["error"];
    assert_eq!(e["kind"], "config", "{e}");
    let message = e["message"].as_str().unwrap();
    assert!(
        message.contains("key `storage`") && message.contains("no-such-storage"),
        "{e}"
    );
}

/// `init --yes` without a terminal: commented files, the assessment of the defaults, files
/// every other command accepts.
#[test]
fn init_yes_writes_files_the_other_commands_accept() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = dir.path().join("cluster.toml");
    let out = sftpha()
        .arg("-c")
        .arg(&cluster)
        .args(["--yes", "--format", "json", "init", "--name", "edge"])
        .args(["--nodes", "10.1.0.1,10.1.0.2,10.1.0.3"])
        .args(["--gateway-hosts", "10.1.0.9,10.1.0.10", "--vip", "10.1.0.8"])
        .assert()
        .code(0);
    let report = json_of(&out);
    assert_eq!(report["cluster"], "edge");
    assert_eq!(report["verdict"], "pass", "{report}");
    let text = std::fs::read_to_string(&cluster).unwrap();
    for expected in [
        "name = \"edge\"",
        "10.1.0.3",
        "vip = \"10.1.0.8\"",
        "# longest tolerable outage",
    ] {
        assert!(text.contains(expected), "{expected} not in:\n{text}");
    }
    // The files it wrote are what assess, users and inventory read.
    let out = sftpha()
        .arg("-c")
        .arg(&cluster)
        .args(["--format", "json", "assess"])
        .assert()
        .code(0);
    assert_eq!(json_of(&out)["verdict"], "pass");
    sftpha()
        .arg("-c")
        .arg(&cluster)
        .args(["--format", "human", "users", "list"])
        .assert()
        .code(0)
        .stdout(predicate::eq("no users\n"));
    let out = sftpha()
        .arg("-c")
        .arg(&cluster)
        .args(["inventory", "--list"])
        .assert()
        .code(0);
    assert_eq!(
        json_of(&out)["nodes"]["hosts"],
        serde_json::json!(["10.1.0.1", "10.1.0.2", "10.1.0.3"])
    );

    // As Markdown, for a change ticket, into a fresh folder.
    let dir = tempfile::tempdir().unwrap();
    let out = sftpha()
        .arg("-c")
        .arg(dir.path().join("cluster.toml"))
        .args(["--yes", "--format", "markdown", "init"])
        .assert()
        .code(0);
    let md = stdout_of(&out);
    assert!(md.starts_with('#'), "{md}");
    assert!(md.contains("```mermaid"), "{md}");
    assert!(dir.path().join("users.toml").exists());
}

/// `assess` at the command line: exit 0 for a design that meets its objectives, 1 for one
/// that does not (unless `--fail-on never`), and every finding in the documented shape.
#[test]
fn assess_exit_code_follows_the_objectives_and_json_has_the_documented_shape() {
    let out = sftpha()
        .arg("-c")
        .arg(assess_fixture("healthy"))
        .args(["--format", "json", "assess"])
        .assert()
        .code(0);
    let healthy = json_of(&out);
    assert_eq!(healthy["verdict"], "pass");
    assert_eq!(healthy["findings"], serde_json::json!([]));

    let out = sftpha()
        .arg("-c")
        .arg(assess_fixture("single_nas"))
        .args(["--format", "json", "assess"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("panicked").not());
    let r = json_of(&out);
    assert_eq!(r["verdict"], "fail");
    let findings = r["findings"].as_array().unwrap();
    assert!(!findings.is_empty());
    for f in findings {
        for key in FINDING_KEYS {
            assert!(
                f[key].as_str().is_some_and(|s| !s.is_empty()),
                "finding without `{key}`: {f}"
            );
        }
        assert!(
            ["high", "medium", "low"].contains(&f["severity"].as_str().unwrap()),
            "{f}"
        );
    }
    assert!(findings.iter().any(|f| f["id"] == "spof.storage"), "{r}");
    assert!(
        findings.iter().any(|f| f["severity"] == "high"),
        "exit 1 at the default --fail-on high needs a high finding: {r}"
    );
    for key in [
        "estimated_percent",
        "target_percent",
        "downtime_minutes_per_year",
    ] {
        assert!(
            r["availability"][key].is_number(),
            "availability.{key}: {r}"
        );
    }
    // Numbers say what they mean, without float noise.
    for (key, decimals) in [
        ("estimated_percent", 6),
        ("downtime_minutes_per_year", 1),
        ("nines", 2),
    ] {
        let text = r["availability"][key].to_string();
        let shown = text.split('.').nth(1).map_or(0, str::len);
        assert!(shown <= decimals, "availability.{key} = {text}");
    }
    assert!(r["capacity"]["peak_sessions"].is_number(), "{r}");
    assert!(
        r["capacity"]["sessions_with_one_node_down"].is_number(),
        "{r}"
    );
    assert!(r["capacity"]["ok"].is_boolean(), "{r}");
    assert!(r["disruptions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["status"] == "breached"));

    // `--fail-on never`: the same findings, exit 0.
    let out = sftpha()
        .arg("-c")
        .arg(assess_fixture("single_nas"))
        .args(["--format", "json", "assess", "--fail-on", "never"])
        .assert()
        .code(0);
    let never = json_of(&out);
    assert_eq!(never["verdict"], "pass");
    assert_eq!(never["findings"], r["findings"]);

    // Human text names the verdict and the findings.
    let out = sftpha()
        .arg("-c")
        .arg(assess_fixture("single_nas"))
        .args(["--format", "human", "assess"])
        .assert()
        .code(1);
    let text = stdout_of(&out);
    assert!(text.contains("spof.storage"), "{text}");
}

/// users.toml handled person by person (comments kept), edited locally with `--no-push` or
/// on a cluster never provisioned: add, list, set-key, remove, and what is refused.
#[test]
fn users_edit_a_local_users_toml() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("cluster.toml"),
        "name = \"local\"\nusers = \"users.toml\"\n[storage]\npath = \"/srv/sftpha\"\n[[nodes]]\nname = \"n1\"\nhost = \"198.18.250.11\"\n[gateway]\nhosts = [\"198.18.250.21\"]\n",
    )
    .unwrap();
    std::fs::write(d.join("users.toml"), "# partners of the local cluster\n").unwrap();
    for (name, kind) in [("alice", "ed25519"), ("alice2", "ecdsa")] {
        keygen(&d.join(name), kind);
    }
    let mut weak = StdCommand::new("ssh-keygen");
    weak.args(["-q", "-N", "", "-t", "rsa", "-b", "1024", "-f"])
        .arg(d.join("weak"));
    weak.assert().success();
    let users = || {
        let mut c = sftpha();
        c.arg("-c").arg(d.join("cluster.toml")).arg("users");
        c
    };
    let list = || {
        let out = users()
            .arg("list")
            .args(["--format", "json"])
            .assert()
            .code(0);
        json_of(&out)
    };
    let file = || std::fs::read_to_string(d.join("users.toml")).unwrap();
    assert_eq!(list(), serde_json::json!([]));

    let out = users()
        .args(["--format", "human", "add", "alice", "--key"])
        .arg(d.join("alice.pub"))
        .args(["--home", "partners/alice", "--permissions", "list,read"])
        .arg("--no-push")
        .assert()
        .code(0);
    assert!(
        stdout_of(&out).contains("added user `alice` (home partners/alice)"),
        "{}",
        stdout_of(&out)
    );
    let text = file();
    assert!(text.contains("# partners of the local cluster\n"), "{text}");
    let alice_pub = std::fs::read_to_string(d.join("alice.pub")).unwrap();
    assert!(text.contains(alice_pub.trim()), "{text}");
    let listed = list();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let alice = &listed[0];
    assert_eq!(alice["name"], "alice");
    assert_eq!(alice["home"], "partners/alice");
    assert_eq!(alice["permissions"], serde_json::json!(["list", "read"]));
    assert_eq!(alice["password"], false);
    assert_eq!(alice["keys"].as_array().unwrap().len(), 1);
    let first_fp = alice["keys"][0]["fingerprint"].as_str().unwrap().to_owned();
    assert!(first_fp.starts_with("SHA256:"), "{alice}");

    // Refused, users.toml untouched: a second alice, a bad name, a weak key, no key at all.
    let before = file();
    let refusals: [(Vec<String>, &str); 4] = [
        (
            vec![
                "add".into(),
                "alice".into(),
                "--key".into(),
                d.join("alice2.pub").display().to_string(),
            ],
            "alice",
        ),
        (
            vec![
                "add".into(),
                "Alice!".into(),
                "--key".into(),
                d.join("alice2.pub").display().to_string(),
            ],
            "Alice!",
        ),
        (
            vec![
                "add".into(),
                "weak".into(),
                "--key".into(),
                d.join("weak.pub").display().to_string(),
            ],
            "1024",
        ),
        (
            vec![
                "add".into(),
                "bob".into(),
                "--key".into(),
                d.join("missing.pub").display().to_string(),
            ],
            "missing.pub",
        ),
    ];
    for (args, named) in refusals {
        let out = users()
            .args(&args)
            .arg("--no-push")
            .assert()
            .code(2)
            .stderr(predicate::str::contains("error:"));
        assert!(
            stderr_of(&out).contains(named),
            "{args:?}: `{named}` not named:\n{}",
            stderr_of(&out)
        );
        assert_eq!(file(), before, "{args:?} changed users.toml");
    }

    // set-key: add a second key, remove the first by fingerprint; never the last one.
    users()
        .args(["set-key", "alice", "--no-push"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "set-key needs --key FILE or --remove-key FINGERPRINT",
        ));
    users()
        .args(["--format", "human", "set-key", "alice", "--key"])
        .arg(d.join("alice2.pub"))
        .arg("--no-push")
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "user `alice`: 1 key(s) added, 0 removed",
        ));
    assert_eq!(list()[0]["keys"].as_array().unwrap().len(), 2);
    users()
        .args([
            "--format",
            "human",
            "set-key",
            "alice",
            "--remove-key",
            &first_fp,
        ])
        .arg("--no-push")
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "user `alice`: 0 key(s) added, 1 removed",
        ));
    let keys = list()[0]["keys"].clone();
    assert_eq!(keys.as_array().unwrap().len(), 1, "{keys}");
    assert_ne!(keys[0]["fingerprint"], first_fp.as_str());
    let last = keys[0]["fingerprint"].as_str().unwrap().to_owned();
    let before = file();
    users()
        .args(["set-key", "alice", "--remove-key", &last, "--no-push"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("error:"));
    assert_eq!(file(), before, "the last key was removed");

    // A password from stdin (no terminal); an empty line is refused with a hint.
    users()
        .args(["add", "carol", "--password", "--no-push"])
        .write_stdin("\n")
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("--password: stdin gave an empty line")
                .and(predicate::str::contains("hint:")),
        );
    users()
        .args(["add", "carol", "--password", "--no-push"])
        .write_stdin("a long enough password\n")
        .assert()
        .code(0);
    assert!(file().contains("$argon2id$"));
    let carol = list()
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "carol")
        .cloned()
        .unwrap();
    assert_eq!(carol["password"], true, "{carol}");

    // remove: a stranger is refused, alice goes, the comment stays.
    users()
        .args(["remove", "mallory", "--no-push"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("mallory"));
    users()
        .args(["--format", "human", "remove", "alice", "--no-push"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "removed user `alice` (the home on the storage is kept)",
        ));
    let names: Vec<Value> = list()
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].clone())
        .collect();
    assert_eq!(names, [serde_json::json!("carol")]);
    assert!(file().contains("# partners of the local cluster\n"));
}

/// The comments at the head of users.toml (what `init` writes: what the file is, an example
/// user) stay at its head when users are added.
#[test]
fn users_add_keeps_the_header_comments_on_top() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = init_in(dir.path());
    let users = dir.path().join("users.toml");
    let header = std::fs::read_to_string(&users).unwrap();
    assert!(
        header.starts_with("# users.toml: who may log in."),
        "{header}"
    );
    keygen(&dir.path().join("alice"), "ed25519");
    sftpha()
        .arg("-c")
        .arg(&cluster)
        .args(["users", "add", "alice", "--no-push", "--key"])
        .arg(dir.path().join("alice.pub"))
        .assert()
        .success();
    let text = std::fs::read_to_string(&users).unwrap();
    assert!(text.starts_with(&header), "the header moved:\n{text}");
    assert!(text.contains("name = \"alice\""), "{text}");
}

/// users.toml holds password hashes: `init` writes it for its owner only, and `users add`
/// never leaves it readable by others.
#[test]
fn users_toml_with_password_hashes_is_not_world_readable() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cluster = init_in(dir.path());
    let users = dir.path().join("users.toml");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&users), 0o600);
    // An operator's own 0644 file is narrowed when a hash goes in.
    std::fs::set_permissions(&users, std::fs::Permissions::from_mode(0o644)).unwrap();
    sftpha()
        .args(["-c"])
        .arg(&cluster)
        .args(["users", "add", "carol", "--password", "--no-push"])
        .write_stdin("a long enough password\n")
        .assert()
        .success();
    let text = std::fs::read_to_string(&users).unwrap();
    assert!(text.contains("$argon2id$"), "{text}");
    assert_eq!(mode(&users) & 0o007, 0, "mode {:o}", mode(&users));
}

/// `inventory` is an Ansible dynamic inventory: JSON whatever `--format`, every host with its
/// variables, `--host` answered with `{}`.
#[test]
fn inventory_lists_every_host_as_json() {
    let cluster = assess_fixture("healthy");
    for format in ["human", "json"] {
        let out = sftpha()
            .arg("-c")
            .arg(&cluster)
            .args(["--format", format, "inventory", "--list"])
            .assert()
            .code(0);
        let inv = json_of(&out);
        assert_eq!(
            inv["nodes"]["hosts"],
            serde_json::json!(["198.18.0.11", "198.18.0.12", "198.18.0.13"]),
            "{inv}"
        );
        assert_eq!(
            inv["gateways"]["hosts"],
            serde_json::json!(["198.18.0.21", "198.18.0.22"]),
            "{inv}"
        );
        assert_eq!(
            inv["all"]["children"],
            serde_json::json!(["nodes", "gateways"])
        );
        let hostvars = inv["_meta"]["hostvars"].as_object().unwrap();
        assert_eq!(hostvars.len(), 5, "{inv}");
        for (host, vars) in hostvars {
            assert_eq!(vars["ansible_host"], host.as_str(), "{vars}");
            assert_eq!(vars["ansible_user"], "root", "{vars}");
            assert_eq!(vars["ansible_port"], 22, "{vars}");
            assert!(
                vars["ansible_ssh_common_args"]
                    .as_str()
                    .unwrap()
                    .contains("StrictHostKeyChecking=yes"),
                "{vars}"
            );
            assert!(
                vars["sftpha"]["cluster"]
                    .as_str()
                    .unwrap()
                    .ends_with("healthy.toml"),
                "{vars}"
            );
        }
        assert!(
            hostvars["198.18.0.11"]["host_key_files"]
                .as_array()
                .is_some_and(|a| !a.is_empty()),
            "{inv}"
        );
    }
    sftpha()
        .arg("-c")
        .arg(&cluster)
        .args(["inventory", "--host", "198.18.0.11"])
        .assert()
        .code(0)
        .stdout(predicate::eq("{}\n"));
    sftpha()
        .arg("-c")
        .arg(&cluster)
        .args(["inventory", "--list", "--host", "198.18.0.11"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--list").and(predicate::str::contains("--host")));
    sftpha()
        .args(["-c", "/nonexistent/cluster.toml", "inventory", "--list"])
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("/nonexistent/cluster.toml"));
}

/// Completions and the man page are raw artifacts on stdout, whatever `--format`.
#[test]
fn completions_and_man_are_raw_artifacts() {
    for (shell, marker) in [
        ("bash", "complete -F _sftpha"),
        ("zsh", "#compdef sftpha"),
        ("fish", "complete -c sftpha"),
        ("elvish", "edit:completion:arg-completer[sftpha]"),
    ] {
        for format in ["human", "json"] {
            let out = sftpha()
                .args(["--format", format, "completions", shell])
                .assert()
                .code(0)
                .stderr(predicate::str::is_empty())
                .stdout(predicate::str::contains(marker));
            let text = stdout_of(&out);
            assert!(!text.trim_start().starts_with('{'), "{shell}: JSON?");
            for command in ["assess", "test-failover", "set-key"] {
                assert!(text.contains(command), "{shell}: no `{command}`");
            }
        }
    }
    let out = sftpha()
        .args(["--format", "json", "man"])
        .assert()
        .code(0)
        .stderr(predicate::str::is_empty())
        .stdout(predicate::str::contains(".TH sftpha 1"));
    let man = stdout_of(&out);
    assert!(man.contains(".SH NAME"), "{man}");
    assert!(man.contains("Exit codes"), "{man}");
}

/// A reader that stops after one line (`| head -1`) is no error: exit 0, the first line
/// intact, no panic on stderr.
#[test]
fn a_reader_that_stops_early_is_no_error() {
    let cluster = assess_fixture("healthy");
    for (args, first) in [
        ("completions bash".to_owned(), "_sftpha() {"),
        ("man".to_owned(), ".ie \\n(.g .ds Aq \\(aq"),
        (format!("-c {} inventory --list", cluster.display()), "{"),
        ("--help".to_owned(), "Build, run and prove an active-active"),
    ] {
        // Enough output to write after `head` has gone: the command 50 times, each exit
        // status other than 0 reported.
        let script = format!(
            "for i in $(seq 50); do \"$BIN\" {args} || echo \"exit $?\" >&2; done | head -1; echo \"status ${{PIPESTATUS[0]}}\" >&2"
        );
        let out = StdCommand::new("bash")
            .args(["-c", &script])
            .env("BIN", BIN)
            .assert()
            .success();
        let stdout = stdout_of(&out);
        let stderr = stderr_of(&out);
        assert_eq!(stdout.lines().count(), 1, "{args}: {stdout}");
        assert!(stdout.starts_with(first), "{args}: {stdout:?}");
        assert!(!stderr.contains("panicked"), "{args}: {stderr}");
        assert!(!stderr.contains("error"), "{args}: {stderr}");
        assert!(!stderr.contains("exit "), "{args}: {stderr}");
        assert!(stderr.contains("status 0"), "{args}: {stderr}");
    }
}

/// Every command's `--help` ends with examples (completions: where each shell's file goes);
/// the global options sit under their own heading; `keys rotate` says what it is.
#[test]
fn help_teaches_by_example() {
    for command in COMMANDS {
        let out = sftpha().args([command, "--help"]).assert().success();
        let text = stdout_of(&out);
        let wanted = if command == "completions" {
            "Where the file goes:"
        } else {
            "Examples:"
        };
        assert!(text.contains(wanted), "{command} --help:\n{text}");
        if command != "completions" && command != "man" {
            assert!(
                text.contains(&format!("sftpha {command}"))
                    || text.contains(&format!("sftpha -c prod/cluster.toml {command}")),
                "{command}'s examples run it:\n{text}"
            );
        }
    }
    // Every command below the top too, leaves included.
    let pages = stdout_of(&sftpha().args(["man", "--list"]).assert().success());
    for page in pages.lines().filter(|p| !p.ends_with(".toml")) {
        let mut args: Vec<&str> = page.split(' ').collect();
        args.push("--help");
        let text = stdout_of(&sftpha().args(&args).assert().success());
        let wanted = if page == "completions" {
            "Where the file goes:"
        } else {
            "Examples:"
        };
        assert!(text.contains(wanted), "{page} --help:\n{text}");
        if page != "completions" {
            let first = page.split(' ').next().unwrap();
            assert!(
                text.contains(&format!("sftpha {first}"))
                    || text.contains(&format!("sftpha -c prod/cluster.toml {first}")),
                "{page}:\n{text}"
            );
        }
    }
    let top = stdout_of(&sftpha().arg("--help").assert().success());
    assert!(
        top.contains("Start here:") && top.contains("sftpha lab up"),
        "{top}"
    );
    let out = sftpha().args(["keys", "--help"]).assert().success();
    assert!(
        stdout_of(&out).contains("rotate       Key rotations with no failed login"),
        "{}",
        stdout_of(&out)
    );
}

/// Each command's `--help` shows the options it acts on and no other: `-c` where a cluster is
/// read, `--format` where a report is printed (markdown only on assess and init), `--yes`
/// where a question is asked (`users` and `keys` take `-c` and `--format` for all their
/// subcommands); `-v`, `-q` and `--color` everywhere under their own heading. Given before the
/// command they still work, and after it they win.
#[test]
fn options_show_only_where_they_act() {
    let out = sftpha().args(["man", "--list"]).assert().success();
    let pages = stdout_of(&out);
    let takes_cluster = |c: &str| {
        [
            "init",
            "assess",
            "provision",
            "status",
            "upgrade",
            "inventory",
            "test-failover",
        ]
        .contains(&c)
            || ["users", "keys", "import"].contains(&c.split(' ').next().unwrap())
                && c != "keys rotate"
    };
    let takes_format = |c: &str| {
        (takes_cluster(c) && c != "inventory")
            || ["lab up", "lab down", "lab status", "node check"].contains(&c)
    };
    let mut checked = 0;
    for command in pages.lines().filter(|p| !p.ends_with(".toml")) {
        let mut args: Vec<&str> = command.split(' ').collect();
        args.push("--help");
        let text = stdout_of(&sftpha().args(&args).assert().success());
        let global = text.find("Global options:").expect("a heading of its own");
        let (own, global) = text.split_at(global);
        for flag in ["--verbose", "--quiet", "--color"] {
            assert!(
                global.contains(flag),
                "{command}: {flag} not shown:\n{text}"
            );
        }
        for (flag, wanted) in [
            ("--cluster", takes_cluster(command)),
            ("--format", takes_format(command)),
            ("--yes", command == "init" || command == "test-failover"),
            ("markdown", command == "init" || command == "assess"),
        ] {
            assert_eq!(text.contains(flag), wanted, "{command}: {flag}:\n{own}");
        }
        checked += 1;
    }
    assert!(checked >= 29, "{checked} pages");

    let site = tempfile::tempdir().unwrap();
    let cluster = init_in(site.path());
    let name = |args: &[&std::ffi::OsStr], env: Option<&Path>| {
        let mut cmd = sftpha();
        cmd.current_dir(site.path()).env_remove("SFTPHA_CLUSTER");
        if let Some(env) = env {
            cmd.env("SFTPHA_CLUSTER", env);
        }
        let out = cmd.args(args).assert();
        let code = out.get_output().status.code();
        (
            code,
            String::from_utf8_lossy(&out.get_output().stderr).into_owned(),
        )
    };
    let missing = site.path().join("missing.toml");
    let (c, m) = (cluster.as_os_str(), missing.as_os_str());
    let assess = std::ffi::OsStr::new("assess");
    let flag = std::ffi::OsStr::new("-c");
    // Before the command, after it (after wins), and SFTPHA_CLUSTER below both.
    assert_eq!(name(&[flag, c, assess], None).0, Some(0));
    assert_eq!(name(&[assess, flag, c], None).0, Some(0));
    assert_eq!(name(&[flag, m, assess, flag, c], None).0, Some(0));
    assert_eq!(name(&[assess], Some(&cluster)).0, Some(0));
    assert_eq!(name(&[flag, c, assess], Some(&missing)).0, Some(0));
    let (code, err) = name(&[flag, c, assess, flag, m], None);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("missing.toml"), "{err}");
    // A command that takes no -c refuses it after its name and ignores it before.
    sftpha()
        .args(["lab", "status", "-c", "x.toml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unexpected argument '-c'"));
    sftpha()
        .args(["status", "--format", "markdown"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("[possible values: human, json]"));
}

/// Day zero: a missing cluster.toml says how to make one; SFTPHA_CLUSTER is the default `-c`;
/// `init` names its placeholders and prints the next commands on stderr (stdout stays the
/// report), and `-q` keeps it quiet.
#[test]
fn day_zero_is_guided() {
    let dir = tempfile::tempdir().unwrap();
    let out = sftpha()
        .current_dir(dir.path())
        .env_remove("SFTPHA_CLUSTER")
        .arg("assess")
        .assert()
        .code(2);
    let err = stderr_of(&out);
    assert!(
        err.contains("could not read `cluster.toml`") && err.contains("hint: `sftpha init` writes"),
        "{err}"
    );

    let cluster = dir.path().join("site/cluster.toml");
    let out = sftpha()
        .args(["--yes", "--format", "json", "-c"])
        .arg(&cluster)
        .args(["init", "--nodes", "10.0.1.11,10.0.1.12,10.0.1.13"])
        .assert()
        .success();
    let err = stderr_of(&out);
    assert!(
        err.contains("placeholders: gateway.hosts[0] = 198.18.0.21") && !err.contains("nodes[0]"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "sftpha -c {} provision --dry-run",
            cluster.display()
        )),
        "{err}"
    );
    assert_eq!(
        json_of(&out)["verdict"],
        "pass",
        "stdout is the report alone"
    );

    // SFTPHA_CLUSTER points every command at it.
    let out = sftpha()
        .current_dir(dir.path())
        .env("SFTPHA_CLUSTER", &cluster)
        .args(["--format", "json", "users", "list"])
        .assert()
        .success();
    assert_eq!(json_of(&out), serde_json::json!([]));

    let quiet = dir.path().join("quiet/cluster.toml");
    let out = sftpha()
        .args(["--yes", "-q", "--format", "json", "-c"])
        .arg(&quiet)
        .arg("init")
        .assert()
        .success();
    assert!(!stderr_of(&out).contains("next:"), "{}", stderr_of(&out));
}

/// Durations take units wherever they are asked for; a plain number stays seconds.
#[test]
fn durations_take_units() {
    let stderr_with = |value: &str| {
        let out = sftpha()
            .args([
                "test-failover",
                "--lab",
                "/nonexistent",
                "--duration",
                value,
            ])
            .assert()
            .code(2);
        stderr_of(&out)
    };
    for (value, error) in [
        ("2s", "outside 3s..1h"),
        ("2h", "outside 3s..1h"),
        ("8x", "is not a duration"),
    ] {
        let err = stderr_with(value);
        assert!(err.contains(error), "{value}: {err}");
    }
    let out = sftpha()
        .args(["--yes", "--format", "json", "-q", "-c"])
        .arg(tempfile::tempdir().unwrap().path().join("c.toml"))
        .args(["init", "--rto", "5m", "--rpo", "0"])
        .assert()
        .success();
    let text = stdout_of(&out);
    assert!(text.contains("\"target_rto_seconds\": 300"), "{text}");
    // Accepted: the run then stops at the missing lab, not at the flag.
    for value in ["8", "8s", "1m"] {
        let err = stderr_with(value);
        let rto = sftpha()
            .args(["test-failover", "--lab", "/nonexistent", "--rto", value])
            .assert()
            .code(2);
        assert!(stderr_of(&rto).contains("--lab:"), "{}", stderr_of(&rto));
        assert!(
            err.contains("--lab: `/nonexistent` is not a folder") && !err.contains("duration"),
            "{value}: {err}"
        );
    }
}

/// On an 80-column terminal the tables fit it (their widest columns wrap); in a pipe they
/// are whole, so a file or a snapshot never depends on a terminal.
#[test]
fn tables_fit_the_terminal() {
    require("script");
    let fixture = assess_fixture("single_nas");
    let command = format!(
        "stty cols 80 rows 50; NO_COLOR=1 {} -c {} --format human assess",
        BIN,
        fixture.display()
    );
    let out = StdCommand::new("script")
        .args(["-qec", &command, "/dev/null"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let table_lines: Vec<&str> = text
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| l.starts_with(['│', '┌', '├', '└']))
        .collect();
    assert!(table_lines.len() > 10, "{text}");
    for line in &table_lines {
        assert!(line.chars().count() <= 80, "wider than 80:\n{line}\n{text}");
    }
    let piped = sftpha()
        .arg("-c")
        .arg(&fixture)
        .args(["--format", "human", "assess"])
        .assert()
        .code(1);
    assert!(
        stdout_of(&piped)
            .lines()
            .any(|l| l.starts_with('│') && l.chars().count() > 80),
        "a pipe gets whole tables"
    );
}

/// A users change in JSON is data (action, user, fingerprints), the sentence beside it.
#[test]
fn users_changes_are_data_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = init_in(dir.path());
    keygen(&dir.path().join("alice"), "ed25519");
    let fp = {
        let out = StdCommand::new("ssh-keygen")
            .args(["-l", "-E", "sha256", "-f"])
            .arg(dir.path().join("alice.pub"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_owned()
    };
    let users = |args: &[&str]| {
        let out = sftpha()
            .arg("-c")
            .arg(&cluster)
            .args(["--format", "json", "users"])
            .args(args)
            .arg("--no-push")
            .assert()
            .success();
        json_of(&out)
    };
    let key = dir.path().join("alice.pub");
    let added = users(&["add", "alice", "--key", key.to_str().unwrap()]);
    assert_eq!(added["action"], "add_user", "{added}");
    assert_eq!(added["user"], "alice");
    assert_eq!(added["keys_added"], serde_json::json!([fp]));
    assert_eq!(added["keys_removed"], serde_json::json!([]));
    assert!(added["change"]
        .as_str()
        .unwrap()
        .contains("added user `alice`"));
    let removed = users(&["remove", "alice"]);
    assert_eq!(removed["action"], "remove_user");
    assert_eq!(removed["keys_removed"], serde_json::json!([fp]));
}
