//! Unit tests of the assessment model: single points of failure found and not found, the
//! RTO/RPO arithmetic of every disruption, availability against hand-computed values, and
//! the capacity edge cases.

use super::*;

/// A design that passes: the shared fixture (3 nodes in 3 zones, 2 gateways with a vip, a
/// synchronous replica).
use crate::config::fixture::{cluster, CLUSTER as GOOD};

/// The day the assessments are made on (accepted risks expire against it).
fn today() -> crate::date::Date {
    crate::date::Date::parse("2026-11-30").unwrap()
}

fn report(text: &str) -> Report {
    assess(
        &cluster(text),
        Vec::new(),
        FailOn::At(Severity::High),
        false,
        today(),
    )
}

fn ids(r: &Report) -> Vec<&'static str> {
    r.findings.iter().map(|f| f.id).collect()
}

fn disruption(r: &Report, kind: DisruptionKind) -> &Disruption {
    r.disruptions.iter().find(|d| d.kind == kind).unwrap()
}

/// GOOD with the nodes cut to the first `n`.
fn nodes(n: usize) -> String {
    let mut text = GOOD.to_string();
    for name in ["n3", "n2"].iter().take(3 - n) {
        let start = text.find(&format!("[[nodes]]\nname = \"{name}\"")).unwrap();
        let end = text[start..].find("zone").unwrap() + start;
        let end = end + text[end..].find('\n').unwrap() + 1;
        text.replace_range(start..end, "");
    }
    text
}

#[test]
fn a_good_design_passes_with_no_findings() {
    let r = report(GOOD);
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    assert_eq!(r.verdict, "pass");
    assert!(r.disruptions.iter().all(|d| d.status == Status::Met));
    assert!(r.capacity.ok);
}

#[test]
fn spofs_are_found() {
    let one_node = report(&nodes(1));
    assert!(ids(&one_node).contains(&"spof.node"));
    assert_eq!(one_node.verdict, "fail");

    let one_gateway = report(&GOOD.replace(
        "hosts = [\"198.18.0.21\", \"198.18.0.22\"]\nvip = \"198.18.0.20\"",
        "hosts = [\"198.18.0.21\"]",
    ));
    assert!(ids(&one_gateway).contains(&"spof.gateway"));

    let no_vip = report(&GOOD.replace("vip = \"198.18.0.20\"", ""));
    let f = no_vip
        .findings
        .iter()
        .find(|f| f.id == "spof.gateway")
        .unwrap();
    assert!(
        f.recommendation.contains("gateway.vip"),
        "{}",
        f.recommendation
    );

    let nas = report(&GOOD.replace("replicas = 2\nreplication = \"sync\"", ""));
    assert!(ids(&nas).contains(&"spof.storage"));

    let one_zone = report(
        &GOOD
            .replace("zone = \"b\"", "zone = \"a\"")
            .replace("zone = \"c\"", "zone = \"a\""),
    );
    assert!(ids(&one_zone).contains(&"spof.zone"));
    // Losing that zone is losing everything: back by hand only.
    assert!(one_zone
        .findings
        .iter()
        .any(|f| f.id == "rto.breached.zone_down" && f.component == "zone_down"));

    let resumable = GOOD.replace(
        "[storage]",
        "[node]\nupload_mode = \"resumable\"\n[storage]",
    );
    let r = report(&resumable);
    assert_eq!(ids(&r), vec!["uploads.partial_visible"]);
    assert_eq!(r.verdict, "pass", "a low finding passes at --fail-on high");
    let strict = assess(
        &cluster(&resumable),
        vec![],
        FailOn::At(Severity::Low),
        false,
        today(),
    );
    assert_eq!(strict.verdict, "fail");
}

#[test]
fn external_gateway_is_no_spof_and_local_storage_is_not_shared() {
    let ext = report(&GOOD.replace(
        "hosts = [\"198.18.0.21\", \"198.18.0.22\"]\nvip = \"198.18.0.20\"",
        "kind = \"external\"",
    ));
    assert!(!ids(&ext).contains(&"spof.gateway"));
    assert_eq!(
        disruption(&ext, DisruptionKind::GatewayDown).estimated_rto_seconds,
        0.0
    );

    let local = report(&GOOD.replace("replicas = 2\nreplication = \"sync\"", "kind = \"local\""));
    assert!(ids(&local).contains(&"storage.local"));
    // A node's loss takes its files: nothing bounds that loss without a backup.
    assert_eq!(
        disruption(&local, DisruptionKind::NodeDown).estimated_rpo_seconds,
        None
    );
}

#[test]
fn node_rto_follows_the_gateway_settings() {
    // builtin: a refused or timed-out connect is retried at once; 1000 ms connect timeout.
    let r = report(GOOD);
    assert_eq!(
        disruption(&r, DisruptionKind::NodeDown).estimated_rto_seconds,
        1.0
    );
    // builtin: a hung node costs the banner timeout.
    assert_eq!(
        disruption(&r, DisruptionKind::NodeHung).estimated_rto_seconds,
        1.5
    );

    // HAProxy forwards TCP: a hung node is out after fall x interval + timeout.
    let haproxy = GOOD.replace("[gateway]\n", "[gateway]\nkind = \"haproxy\"\nhealth_interval_ms = 2000\nhealth_fall = 3\nhealth_timeout_ms = 500\n");
    let r = report(&haproxy);
    assert_eq!(
        disruption(&r, DisruptionKind::NodeHung).estimated_rto_seconds,
        6.5
    );
    assert_eq!(
        disruption(&r, DisruptionKind::NodeDown).estimated_rto_seconds,
        1.0
    );

    // SFTPGo's published HAProxy example: 10 s x 3 = ~30 s, over a 20 s objective.
    let slow = haproxy
        .replace("health_interval_ms = 2000", "health_interval_ms = 10000")
        .replace("rto_seconds = 30", "rto_seconds = 20");
    let r = report(&slow);
    let hung = disruption(&r, DisruptionKind::NodeHung);
    assert_eq!(hung.estimated_rto_seconds, 30.5);
    assert_eq!(hung.status, Status::Breached);
    assert!(r
        .findings
        .iter()
        .any(|f| f.id == "rto.breached.node_hung" && f.component == "node_hung"));

    // One node: back when restored by hand.
    let r = report(&nodes(1));
    assert_eq!(
        disruption(&r, DisruptionKind::NodeDown).estimated_rto_seconds,
        14400.0
    );
}

#[test]
fn gateway_rto_is_vrrp_with_a_vip_and_manual_without() {
    let r = report(GOOD);
    // 3 x 300 ms adverts + (256 - 100) / 256 x 300 ms skew = 1.083 s
    assert_eq!(
        disruption(&r, DisruptionKind::GatewayDown).estimated_rto_seconds,
        1.1
    );
    let fast = report(&GOOD.replace(
        "vip = \"198.18.0.20\"",
        "vip = \"198.18.0.20\"\nadvert_interval_ms = 200",
    ));
    assert_eq!(
        disruption(&fast, DisruptionKind::GatewayDown).estimated_rto_seconds,
        0.7
    );
    let manual = report(&GOOD.replace("vip = \"198.18.0.20\"", "").replace(
        "[objectives]",
        "[recovery]\nmanual_seconds = 1800\n[objectives]",
    ));
    assert_eq!(
        disruption(&manual, DisruptionKind::GatewayDown).estimated_rto_seconds,
        1800.0
    );
}

#[test]
fn storage_rpo_is_zero_for_sync_the_lag_for_async_and_the_backup_for_one_copy() {
    let r = report(GOOD);
    let s = disruption(&r, DisruptionKind::StorageDown);
    assert_eq!(
        (s.estimated_rto_seconds, s.estimated_rpo_seconds),
        (30.0, Some(0.0))
    );

    let lagging = report(&GOOD.replace(
        "replication = \"sync\"",
        "replication = \"async\"\nreplication_lag_seconds = 120",
    ));
    let s = disruption(&lagging, DisruptionKind::StorageDown);
    assert_eq!(s.estimated_rpo_seconds, Some(120.0));
    assert_eq!(s.status, Status::Breached);
    assert!(lagging
        .findings
        .iter()
        .any(|f| f.id == "rpo.breached.storage_down" && f.component == "storage_down"));

    let nas = GOOD.replace(
        "replicas = 2\nreplication = \"sync\"",
        "backup_interval_seconds = 3600",
    );
    let nas = report(&nas);
    let s = disruption(&nas, DisruptionKind::StorageDown);
    assert_eq!(
        (s.estimated_rto_seconds, s.estimated_rpo_seconds),
        (14400.0, Some(3600.0))
    );
    let no_backup = GOOD.replace("replicas = 2\nreplication = \"sync\"", "");
    assert_eq!(
        disruption(&report(&no_backup), DisruptionKind::StorageDown).estimated_rpo_seconds,
        None
    );
}

#[test]
fn zone_loss_with_the_storage_in_one_zone_stops_the_service() {
    let spread = report(&GOOD.replace(
        "replication = \"sync\"",
        "replication = \"sync\"\nzones = [\"a\", \"b\"]",
    ));
    let z = disruption(&spread, DisruptionKind::ZoneDown);
    assert_eq!(
        z.estimated_rto_seconds, 30.0,
        "the storage fails over in 30 s"
    );
    assert_eq!(z.status, Status::Met);

    let one = report(&GOOD.replace(
        "replication = \"sync\"",
        "replication = \"sync\"\nzones = [\"a\"]",
    ));
    assert_eq!(
        disruption(&one, DisruptionKind::ZoneDown).estimated_rto_seconds,
        14400.0
    );
    assert!(one
        .findings
        .iter()
        .any(|f| f.id == "spof.zone" && f.component == "storage"));
}

#[test]
fn availability_matches_hand_computation() {
    // GOOD: gateway 1-(0.001)^2, nodes: at least 1 of 3 in 3 zones (node 0.995, zone 0.9999,
    // so each node independently 0.995*0.9999), storage 1-(0.0005)^2.
    let r = report(GOOD);
    let node: f64 = 0.995 * 0.9999;
    let expected =
        (1.0 - 0.001f64.powi(2)) * (1.0 - (1.0 - node).powi(3)) * (1.0 - 0.0005f64.powi(2));
    assert!((r.availability.estimated_percent - expected * 100.0).abs() < 1e-9);

    // One gateway, two nodes in one zone that both must be up (peak 1200 > max_sessions 1000), one NAS:
    // 0.999 * (0.9999 * 0.995^2) * 0.9995
    let text = nodes(2)
        .replace("zone = \"b\"", "zone = \"a\"")
        .replace(
            "hosts = [\"198.18.0.21\", \"198.18.0.22\"]\nvip = \"198.18.0.20\"",
            "hosts = [\"198.18.0.21\"]",
        )
        .replace("replicas = 2\nreplication = \"sync\"", "")
        .replace("peak_sessions = 200", "peak_sessions = 1200");
    let r = report(&text);
    let expected = 0.999 * (0.9999 * 0.995 * 0.995) * 0.9995;
    assert!((r.availability.estimated_percent - expected * 100.0).abs() < 1e-9);
    assert!((r.availability.downtime_minutes_per_year - (1.0 - expected) * 525_960.0).abs() < 1e-6);
    assert_eq!(r.availability.status, Status::Breached);
    assert!(ids(&r).contains(&"availability.breached"));
    // 99.95% allows 262.98 minutes a year.
    assert!((r.availability.target_downtime_minutes_per_year - 262.98).abs() < 1e-6);
}

#[test]
fn capacity_edges() {
    // Exactly enough with one node down: 2 x 100 = 200 = peak.
    let exact = report(&GOOD.replace("[storage]", "[node]\nmax_sessions = 100\n[storage]"));
    assert!(exact.capacity.ok);
    assert_eq!(exact.capacity.sessions_with_one_node_down, 200);
    assert!(!ids(&exact).contains(&"capacity.n_minus_1"));

    // One session short.
    let short = report(
        &GOOD
            .replace("peak_sessions = 200", "peak_sessions = 201")
            .replace("[storage]", "[node]\nmax_sessions = 100\n[storage]"),
    );
    assert!(!short.capacity.ok);
    let f = short
        .findings
        .iter()
        .find(|f| f.id == "capacity.n_minus_1")
        .unwrap();
    assert!(
        f.recommendation.contains("at least 4 nodes"),
        "{}",
        f.recommendation
    );
    assert!(!ids(&short).contains(&"capacity.peak"));

    // Over even with every node up.
    let over = report(
        &GOOD
            .replace("peak_sessions = 200", "peak_sessions = 301")
            .replace("[storage]", "[node]\nmax_sessions = 100\n[storage]"),
    );
    assert!(ids(&over).contains(&"capacity.peak"));

    // One node: nothing is left with it down.
    let one = report(&nodes(1));
    assert_eq!(one.capacity.sessions_with_one_node_down, 0);
    assert!(!one.capacity.ok);

    // Zones of unequal size: losing the big one leaves too little.
    let lopsided = report(
        &GOOD
            .replace("zone = \"b\"", "zone = \"a\"")
            .replace("zone = \"c\"", "zone = \"b\"")
            .replace("[storage]", "[node]\nmax_sessions = 100\n[storage]"),
    );
    assert_eq!(lopsided.capacity.sessions_with_largest_zone_down, Some(100));
    assert!(ids(&lopsided).contains(&"capacity.zone_down"));

    // Throughput, when both sides are stated.
    let thr = report(
        &GOOD
            .replace(
                "availability_percent = 99.95",
                "availability_percent = 99.95\npeak_throughput_mbps = 2500",
            )
            .replace("[storage]", "[node]\nthroughput_mbps = 1000\n[storage]"),
    );
    assert!(ids(&thr).contains(&"capacity.throughput"));
}

#[test]
fn fail_on_never_always_passes() {
    let r = assess(&cluster(&nodes(1)), vec![], FailOn::Never, false, today());
    assert_eq!(r.verdict, "pass");
    assert!(!r.findings.is_empty());
}

#[test]
fn findings_are_ordered_by_severity() {
    let r = report(&nodes(1).replace("zone = \"a\"", ""));
    let severities: Vec<Severity> = r.findings.iter().map(|f| f.severity).collect();
    let mut sorted = severities.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(severities, sorted);
}

/// An accepted risk takes its finding out of the verdict until it expires, and every report
/// lists it; an expired one counts again; one that matches nothing says so.
#[test]
fn accepted_risks_hold_until_they_expire() {
    let one_gateway = GOOD.replace(
        "hosts = [\"198.18.0.21\", \"198.18.0.22\"]\nvip = \"198.18.0.20\"",
        "hosts = [\"198.18.0.21\"]",
    );
    assert_eq!(report(&one_gateway).verdict, "fail");
    let accepted = |expires: &str| {
        format!(
            "{one_gateway}\n[[accepted_risks]]\nid = \"spof.gateway\"\nreason = \"CHG-1234: second gateway arrives in March\"\nexpires = \"{expires}\"\n[[accepted_risks]]\nid = \"rto.breached.gateway_down\"\nreason = \"CHG-1234\"\nexpires = \"2027-03-31\"\n[[accepted_risks]]\nid = \"availability.breached\"\nreason = \"CHG-1234\"\nexpires = \"2027-03-31\"\n[[accepted_risks]]\nid = \"spof.node\"\nreason = \"old\"\nexpires = \"2027-01-01\"\n"
        )
    };
    let r = report(&accepted("2026-11-30"));
    assert_eq!(r.verdict, "pass", "{:?}", ids(&r));
    assert!(!ids(&r).contains(&"spof.gateway"));
    let risk = &r.accepted_risks[0];
    assert_eq!(risk.status, RiskState::InForce);
    assert_eq!(risk.findings[0].id, "spof.gateway");
    assert_eq!(r.accepted_risks[1].status, RiskState::InForce);
    assert_eq!(r.accepted_risks[3].status, RiskState::Unused);
    let text = render::human(&r);
    assert!(
        text.contains("spof.gateway: accepted until 2026-11-30 (high:")
            && text.contains("CHG-1234")
            && text.contains("spof.node: no such finding"),
        "{text}"
    );

    let r = report(&accepted("2026-11-29"));
    assert_eq!(r.verdict, "fail");
    assert!(ids(&r).contains(&"spof.gateway"));
    assert_eq!(r.accepted_risks[0].status, RiskState::Expired);
    assert!(render::human(&r).contains("EXPIRED on 2026-11-29"));

    for (from, to, key) in [
        (
            "id = \"spof.gateway\"",
            "id = \"Spof Gateway\"",
            "accepted_risks[0].id",
        ),
        (
            "reason = \"CHG-1234: second gateway arrives in March\"",
            "reason = \" \"",
            "accepted_risks[0].reason",
        ),
        (
            "expires = \"2027-01-01\"",
            "expires = \"31.03.2027\"",
            "YYYY-MM-DD",
        ),
        (
            "id = \"spof.node\"",
            "id = \"spof.gateway\"",
            "is also accepted_risks[0]",
        ),
    ] {
        let text = crate::config::fixture::edit(&accepted("2027-03-31"), from, to);
        let e = crate::config::fixture::parse(&text)
            .unwrap_err()
            .to_string();
        assert!(e.contains(key), "{to}: {e}");
    }
}
