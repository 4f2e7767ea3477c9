//! `sftpha assess` and `sftpha init` from the command line: fixture designs with their JSON
//! and exit codes, snapshots of the human and Markdown reports, the questionnaire without a
//! terminal. (`--probe` against live processes is in `lab_failover`.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::harness::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/assess")
        .join(format!("{name}.toml"))
}

fn assess(cluster: &Path, extra: &[&str]) -> Output {
    run(Command::new(BIN)
        .arg("-c")
        .arg(cluster)
        .args(["--format", "json", "assess"])
        .args(extra))
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn has(report: &serde_json::Value, id: &str, component: &str) -> bool {
    findings(report)
        .iter()
        .any(|(i, c)| i == id && c == component)
}

fn disruption<'a>(report: &'a serde_json::Value, kind: &str) -> &'a serde_json::Value {
    report["disruptions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == kind)
        .unwrap()
}

#[test]
fn a_healthy_design_passes_with_exit_0_and_the_documented_json() {
    let out = assess(&fixture("healthy"), &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let r = json(&out);
    assert_eq!(r["cluster"], "healthy");
    assert_eq!(r["verdict"], "pass");
    assert!(findings(&r).is_empty(), "{:?}", findings(&r));
    // The schema of DESIGN.md.
    for d in r["disruptions"].as_array().unwrap() {
        for key in [
            "kind",
            "estimated_rto_seconds",
            "target_rto_seconds",
            "estimated_rpo_seconds",
            "target_rpo_seconds",
            "status",
        ] {
            assert!(d.get(key).is_some(), "disruption without `{key}`: {d}");
        }
        assert_eq!(d["status"], "met");
    }
    let kinds: Vec<&str> = r["disruptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "node_down",
            "node_hung",
            "gateway_down",
            "storage_down",
            "zone_down"
        ]
    );
    for key in [
        "estimated_percent",
        "target_percent",
        "downtime_minutes_per_year",
    ] {
        assert!(r["availability"][key].is_number(), "availability.{key}");
    }
    assert_eq!(r["capacity"]["peak_sessions"], 400);
    assert_eq!(r["capacity"]["sessions_with_one_node_down"], 2000);
    assert_eq!(r["capacity"]["ok"], true);
}

#[test]
fn one_node_is_a_single_point_of_failure() {
    let out = assess(&fixture("one_node"), &[]);
    assert_eq!(out.status.code(), Some(1));
    let r = json(&out);
    assert_eq!(r["verdict"], "fail");
    assert!(has(&r, "spof.node", "nodes"));
    assert!(has(&r, "capacity.n_minus_1", "nodes"));
    assert!(has(&r, "rto.breached.node_down", "node_down"));
    assert_eq!(
        disruption(&r, "node_down")["estimated_rto_seconds"],
        14400.0
    );
    let f = &r["findings"].as_array().unwrap()[0];
    for key in FINDING_KEYS {
        assert!(f[key].is_string(), "finding without `{key}`: {f}");
    }
}

#[test]
fn two_nodes_in_one_zone_share_its_fate() {
    let out = assess(&fixture("two_nodes_one_zone"), &[]);
    let r = json(&out);
    assert!(has(&r, "spof.zone", "nodes"));
    assert!(has(&r, "rto.breached.zone_down", "zone_down"));
    assert!(!has(&r, "spof.node", "nodes"));
    assert_eq!(disruption(&r, "node_down")["status"], "met");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn two_gateways_without_a_vip_are_still_a_single_point_of_failure() {
    let out = assess(&fixture("two_gateways_no_vip"), &[]);
    let r = json(&out);
    assert!(has(&r, "spof.gateway", "gateway"));
    assert!(has(&r, "rto.breached.gateway_down", "gateway_down"));
    let f = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "spof.gateway")
        .unwrap();
    assert!(f["recommendation"]
        .as_str()
        .unwrap()
        .contains("gateway.vip"));
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_single_nas_breaches_rto_and_rpo_for_storage_loss() {
    let r = json(&assess(&fixture("single_nas"), &[]));
    assert!(has(&r, "spof.storage", "storage"));
    assert!(has(&r, "rpo.breached.storage_down", "storage_down"));
    let s = disruption(&r, "storage_down");
    assert!(s["estimated_rpo_seconds"].is_null(), "no backup: unbounded");
    assert_eq!(s["status"], "breached");
}

#[test]
fn async_replication_lagging_past_the_rpo_is_breached() {
    let r = json(&assess(&fixture("async_lag"), &[]));
    let s = disruption(&r, "storage_down");
    assert_eq!(s["estimated_rpo_seconds"], 300.0);
    assert_eq!(s["target_rpo_seconds"], 60);
    assert!(has(&r, "rpo.breached.storage_down", "storage_down"));
    assert!(!has(&r, "spof.storage", "storage"));
}

#[test]
fn fail_on_sets_the_exit_code() {
    let never = assess(&fixture("one_node"), &["--fail-on", "never"]);
    assert_eq!(never.status.code(), Some(0));
    assert_eq!(json(&never)["verdict"], "pass");
    // No finding at all: passes even at the strictest level.
    let strict = assess(&fixture("healthy"), &["--fail-on", "low"]);
    assert_eq!(strict.status.code(), Some(0));
    // A medium finding (one zone) fails at medium, not at high once its high finding is gone.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cluster.toml");
    let text = std::fs::read_to_string(fixture("two_nodes_one_zone")).unwrap();
    // A zone loss recovered in 4 h meets a 4 h objective: only spof.zone (medium) is left.
    std::fs::write(
        &path,
        text.replace("rto_seconds = 30", "rto_seconds = 14400"),
    )
    .unwrap();
    let high = assess(&path, &[]);
    assert_eq!(high.status.code(), Some(0), "{high:?}");
    assert_eq!(
        findings(&json(&high)),
        [("spof.zone".to_string(), "nodes".to_string())]
    );
    assert_eq!(
        assess(&path, &["--fail-on", "medium"]).status.code(),
        Some(1)
    );
}

#[test]
fn bad_cluster_files_exit_2_naming_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cluster.toml");
    let text = std::fs::read_to_string(fixture("healthy")).unwrap();
    let cases = [
        (
            text.replace("rto_seconds", "rto_secs"),
            "unknown field `rto_secs`",
        ),
        (
            text.replace("name = \"n2\"", "name = \"n1\""),
            "key `nodes[1].name`",
        ),
        (
            text.replace("198.18.0.12", "198.18.0.11"),
            "key `nodes[1].port`",
        ),
        (
            text.replace("vip = \"198.18.0.20\"", "vip = \"x\""),
            "key `gateway.vip`",
        ),
    ];
    for (content, expected) in cases {
        std::fs::write(&path, content).unwrap();
        let out = assess(&path, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(expected), "{expected} not in {stderr}");
        assert!(stderr.contains(&path.display().to_string()), "{stderr}");
    }
    let missing = assess(&dir.path().join("nope.toml"), &[]);
    assert_eq!(missing.status.code(), Some(2));
}

/// Compares `actual` with the checked-in snapshot; `SFTPHA_UPDATE_SNAPSHOTS=1` rewrites it.
fn snapshot(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("SFTPHA_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the output at line {}:\n  expected: {:?}\n  actual:   {:?}\nrun with SFTPHA_UPDATE_SNAPSHOTS=1 if the change is intended",
            path.display(),
            first + 1,
            expected.lines().nth(first),
            actual.lines().nth(first)
        );
    }
}

#[test]
fn human_and_markdown_reports_match_their_snapshots() {
    for (format, ext) in [("human", "txt"), ("markdown", "md")] {
        for name in ["single_nas", "healthy"] {
            let out = run(Command::new(BIN)
                .arg("-c")
                .arg(fixture(name))
                .args(["--format", format, "assess"]));
            assert!(out.status.code().is_some_and(|c| c <= 1), "{out:?}");
            snapshot(
                &format!("assess-{name}.{ext}"),
                &String::from_utf8(out.stdout).unwrap(),
            );
        }
    }
    let md = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/assess-single_nas.md"),
    )
    .unwrap();
    assert!(md.contains("```mermaid\nflowchart LR"));
}

#[test]
fn markdown_is_refused_where_it_means_nothing() {
    let out = run(Command::new(BIN).args([
        "--format",
        "markdown",
        "lab",
        "status",
        "--dir",
        "/nonexistent",
    ]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("only for `assess` and `init`"));
}

#[test]
fn init_yes_writes_a_design_that_assess_accepts_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = dir.path().join("cluster.toml");
    let out = run(Command::new(BIN)
        .arg("-c")
        .arg(&cluster)
        .args(["--yes", "--format", "json", "init"]));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        json(&out)["verdict"],
        "pass",
        "the defaults are a passing design"
    );
    let text = std::fs::read_to_string(&cluster).unwrap();
    assert!(
        text.contains("# longest tolerable outage"),
        "commented:\n{text}"
    );
    assert!(dir.path().join("users.toml").exists());
    let again = assess(&cluster, &[]);
    assert_eq!(again.status.code(), Some(0));

    // A second init refuses; --force overwrites with the new answers.
    let refused = run(Command::new(BIN)
        .arg("-c")
        .arg(&cluster)
        .args(["--yes", "init"]));
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("exists already"));
    assert_eq!(std::fs::read_to_string(&cluster).unwrap(), text);

    let forced = run(Command::new(BIN).arg("-c").arg(&cluster).args([
        "--yes",
        "--format",
        "json",
        "init",
        "--force",
        "--name",
        "small",
        "--nodes",
        "10.0.0.1",
        "--gateway-hosts",
        "10.0.0.9",
        "--replicas",
        "1",
        "--impact",
        "moderate",
    ]));
    assert_eq!(forced.status.code(), Some(0), "{forced:?}");
    let r = json(&forced);
    assert_eq!(r["cluster"], "small");
    assert_eq!(r["verdict"], "fail");
    assert!(has(&r, "spof.node", "nodes"));
    assert!(has(&r, "spof.gateway", "gateway"));
    assert!(has(&r, "spof.storage", "storage"));
    assert_eq!(disruption(&r, "node_down")["target_rto_seconds"], 300);
}

#[test]
fn init_without_a_terminal_needs_yes() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(Command::new(BIN)
        .arg("-c")
        .arg(dir.path().join("cluster.toml"))
        .arg("init")
        .stdin(std::process::Stdio::null()));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    assert!(!dir.path().join("cluster.toml").exists());

    let bad = run(Command::new(BIN)
        .arg("-c")
        .arg(dir.path().join("cluster.toml"))
        .args(["--yes", "init", "--nodes", "bad host"]));
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("nodes[0].host"));
    assert!(!dir.path().join("cluster.toml").exists());
}
