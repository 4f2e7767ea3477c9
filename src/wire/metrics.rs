//! One Prometheus text writer (exposition format 0.0.4) for the node and the gateway.

use std::fmt::Write;

/// Builds a `/metrics` page: every family with its HELP and TYPE lines, then its samples.
pub struct Exposition {
    prefix: &'static str,
    /// Labels every sample carries, already formatted (`node="n1"`).
    base: String,
    out: String,
}

/// What a family counts.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Counter,
    Gauge,
}

impl Exposition {
    /// Families named `{prefix}_{name}`, every sample labelled `{label}="{value}"`.
    pub fn new(prefix: &'static str, label: &str, value: &str) -> Exposition {
        Exposition {
            prefix,
            base: format!("{label}=\"{}\"", escape(value)),
            out: String::new(),
        }
    }

    /// A family with one sample.
    pub fn one(&mut self, name: &str, kind: Kind, help: &str, value: i64) -> &mut Self {
        self.family(name, kind, help, [("", value)])
    }

    /// A family with a sample per extra label set (`backend="n1"`, already formatted).
    pub fn family<'a>(
        &mut self,
        name: &str,
        kind: Kind,
        help: &str,
        samples: impl IntoIterator<Item = (&'a str, i64)>,
    ) -> &mut Self {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        let prefix = self.prefix;
        let _ = writeln!(
            self.out,
            "# HELP {prefix}_{name} {help}\n# TYPE {prefix}_{name} {kind}"
        );
        for (labels, value) in samples {
            let sep = if labels.is_empty() { "" } else { "," };
            let _ = writeln!(
                self.out,
                "{prefix}_{name}{{{}{sep}{labels}}} {value}",
                self.base
            );
        }
        self
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// A label value as the exposition format wants it.
pub fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_families_with_labels() {
        let mut e = Exposition::new("sftpha_x", "node", "n\"1");
        e.one("up", Kind::Gauge, "1 when up", 1).family(
            "sessions",
            Kind::Counter,
            "per backend",
            [("backend=\"a\"", 2), ("backend=\"b\"", 3)],
        );
        assert_eq!(
            e.finish(),
            "# HELP sftpha_x_up 1 when up\n# TYPE sftpha_x_up gauge\nsftpha_x_up{node=\"n\\\"1\"} 1\n\
             # HELP sftpha_x_sessions per backend\n# TYPE sftpha_x_sessions counter\n\
             sftpha_x_sessions{node=\"n\\\"1\",backend=\"a\"} 2\nsftpha_x_sessions{node=\"n\\\"1\",backend=\"b\"} 3\n"
        );
    }
}
