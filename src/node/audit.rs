//! The audit log: one JSON object a line, written by a dedicated thread so that a slow disk
//! never stalls a session. Reopened on SIGHUP, so logrotate can move it away.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::node::metrics::Metrics;

/// Events waiting for the writer before new ones are dropped (and counted).
const AUDIT_QUEUE: usize = 65536;

enum Msg {
    Event(Value),
    Reopen,
}

#[derive(Clone)]
pub struct Audit {
    tx: Option<SyncSender<Msg>>,
    node: Arc<str>,
    metrics: Arc<Metrics>,
}

impl Audit {
    /// Starts the writer; `None` keeps no audit log.
    pub fn start(
        path: Option<PathBuf>,
        node: &str,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Audit> {
        let tx = match path {
            None => None,
            Some(path) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let mut file = open(&path)?;
                let (tx, rx) = sync_channel::<Msg>(AUDIT_QUEUE);
                std::thread::Builder::new()
                    .name("audit".into())
                    .spawn(move || {
                        for msg in rx {
                            match msg {
                                Msg::Event(event) => {
                                    let mut line = event.to_string();
                                    line.push('\n');
                                    if let Err(e) = file.write_all(line.as_bytes()) {
                                        tracing::error!(path = %path.display(), "audit log write failed: {e}");
                                    }
                                }
                                Msg::Reopen => match open(&path) {
                                    Ok(f) => file = f,
                                    Err(e) => tracing::error!(path = %path.display(), "audit log reopen failed: {e}"),
                                },
                            }
                        }
                    })?;
                Some(tx)
            }
        };
        Ok(Audit {
            tx,
            node: node.into(),
            metrics,
        })
    }

    pub fn reopen(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.try_send(Msg::Reopen);
        }
    }

    /// Records `event` for `user` from `client`; `fields` are merged into the line.
    pub fn log(
        &self,
        event: &str,
        user: Option<&str>,
        client: SocketAddr,
        session: u64,
        fields: Value,
    ) {
        let Some(tx) = &self.tx else { return };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let mut line = json!({
            "ts": format_rfc3339(now.as_secs(), now.subsec_millis()),
            "node": &*self.node,
            "event": event,
            "session": session,
            "client": client.to_string(),
            "client_ip": client.ip().to_string(),
        });
        if let Some(user) = user {
            line["user"] = json!(user);
        }
        if let (Value::Object(line), Value::Object(fields)) = (&mut line, fields) {
            line.extend(fields);
        }
        match tx.try_send(Msg::Event(line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                Metrics::inc(&self.metrics.audit_dropped_total);
            }
        }
    }
}

fn open(path: &PathBuf) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

/// A client-supplied string made safe for a log line: always quoted, with quotes, backslashes,
/// control characters (newlines, escape sequences, C1 controls) and Unicode direction
/// overrides escaped, and cut at 256 bytes, so nobody can forge a log line, add a field to
/// one (`user=x client=...`) or hide one. (The audit log is JSON, which escapes by itself; the
/// text log on stderr needs this.)
pub fn printable(s: &str) -> String {
    const MAX: usize = 256;
    let mut out = String::with_capacity(s.len().min(MAX) + 16);
    out.push('"');
    for (i, c) in s.char_indices() {
        if i >= MAX {
            out.push_str(&format!("...({} bytes)", s.len()));
            break;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control()
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
            {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for a Unix time, without a date library.
pub fn format_rfc3339(secs: u64, millis: u32) -> String {
    let days = secs / 86400;
    let rem = secs % 86400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn client_strings_cannot_forge_log_lines() {
        assert_eq!(super::printable("alice"), "\"alice\"");
        let fields = super::printable("admin client=203.0.113.9:22 reason=\"ok\"");
        assert_eq!(fields, r#""admin client=203.0.113.9:22 reason=\"ok\"""#);
        let forged = "x\n2026-11-30T00:00:00Z INFO login user=root\x1b[2K\u{202e}";
        let shown = super::printable(forged);
        assert!(!shown.chars().any(|c| c.is_control()), "{shown}");
        assert!(shown.contains("\\n2026"), "{shown}");
        assert!(shown.contains("\\u{1b}"), "{shown}");
        assert!(shown.contains("\\u{202e}"), "{shown}");
        let long = "a".repeat(10_000);
        assert!(super::printable(&long).len() < 300);
    }

    #[test]
    fn formats_rfc3339() {
        assert_eq!(super::format_rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            super::format_rfc3339(1_795_000_000, 5),
            "2026-11-18T11:06:40.005Z"
        );
        assert_eq!(
            super::format_rfc3339(951_782_400, 0),
            "2000-02-29T00:00:00.000Z"
        );
    }
}
