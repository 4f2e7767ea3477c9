//! test-failover results for people (a table), machines (JSON, as in DESIGN.md) and CI
//! systems (JUnit XML).

use std::fmt::Write;

use super::Outcome;

pub fn json(outcome: &Outcome) -> String {
    serde_json::to_string_pretty(outcome).expect("outcome serializes")
}

pub fn human(o: &Outcome) -> String {
    let mut out = String::new();
    if !o.checks.iter().any(|c| c.name == "fault.injected") {
        // Nothing was measured: only the checks that stopped it mean anything.
        let _ = writeln!(
            out,
            "test-failover: {}: NOT RUN (the preflight failed; no fault was injected)",
            o.fault.name()
        );
        checks(&mut out, o);
        return out;
    }
    let ms = |v: Option<u64>| v.map(|v| format!("{v} ms")).unwrap_or_else(|| "-".into());
    let _ = writeln!(
        out,
        "test-failover: {} on {}: {}",
        o.fault.name(),
        o.node,
        if o.ok { "PASS" } else { "FAIL" }
    );
    let ob = &o.observed;
    let _ = writeln!(
        out,
        "  detect        {}   (fault to the gateway taking the node out)",
        ms(ob.detect_ms)
    );
    let _ = writeln!(
        out,
        "  recovery      {}   (fault to the first good login after it)",
        ms(ob.recovery_ms)
    );
    let _ = writeln!(
        out,
        "  logins        {} ({} failed, {} under way on the node when it failed)",
        ob.logins_total, ob.failed_logins, ob.interrupted_logins
    );
    let _ = writeln!(
        out,
        "  operations    {} ({} failed, {} interrupted)",
        ob.ops_total, ob.ops_failed, ob.interrupted_ops
    );
    let _ = writeln!(
        out,
        "  uploads       {} completed, {} verified through other nodes",
        ob.uploads_completed,
        crate::text::human_bytes(ob.bytes_verified)
    );
    let _ = writeln!(
        out,
        "  data          {} lost, {} corrupt, {} partial visible, {} temporary left, {} completed late (intact)",
        ob.lost_files, ob.corrupt_files, ob.partial_files_visible, ob.temporary_files_left, ob.late_commits
    );
    let _ = writeln!(out, "  checks");
    checks(&mut out, o);
    if !o.errors.is_empty() {
        let _ = writeln!(out, "  client errors (first {})", o.errors.len());
        for e in &o.errors {
            let _ = writeln!(out, "    {e}");
        }
    }
    out
}

/// One line per check: ok or FAIL, name, detail.
fn checks(out: &mut String, o: &Outcome) {
    for c in &o.checks {
        let _ = writeln!(
            out,
            "    {} {:<26} {}",
            if c.ok { "ok  " } else { "FAIL" },
            c.name,
            c.detail
        );
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// JUnit XML: one test case per check.
pub fn junit(o: &Outcome) -> String {
    let failures = o.checks.iter().filter(|c| !c.ok).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites><testsuite name=\"sftpha test-failover {}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{:.3}\">",
        o.fault.name(),
        o.checks.len(),
        o.elapsed_ms as f64 / 1000.0
    );
    let _ = writeln!(
        out,
        "  <properties><property name=\"node\" value=\"{}\"/><property name=\"observed\" value=\"{}\"/></properties>",
        xml_escape(&o.node),
        xml_escape(&serde_json::to_string(&o.observed).unwrap_or_default())
    );
    for c in &o.checks {
        let _ = write!(
            out,
            "  <testcase classname=\"sftpha.failover.{}\" name=\"{}\"",
            o.fault.name(),
            xml_escape(&c.name)
        );
        if c.ok {
            let _ = writeln!(
                out,
                "><system-out>{}</system-out></testcase>",
                xml_escape(&c.detail)
            );
        } else {
            let _ = writeln!(
                out,
                "><failure message=\"{}\"/></testcase>",
                xml_escape(&c.detail)
            );
        }
    }
    out.push_str("</testsuite></testsuites>\n");
    out
}
