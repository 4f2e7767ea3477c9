//! Plain text for people: tables and wrapped paragraphs, shared by every human report.

use tabled::builder::Builder;
use tabled::settings::Style;

/// Rows as a table (the first row is the header); markdown for `--format markdown`.
pub fn table(rows: Vec<Vec<String>>, markdown: bool) -> String {
    let mut builder = Builder::default();
    for row in rows {
        builder.push_record(row);
    }
    let mut table = builder.build();
    if markdown {
        table.with(Style::markdown());
    } else {
        table.with(Style::sharp());
        // On a terminal, the widest columns wrap (at word boundaries) to fit it.
        if let Some(width) = terminal_width() {
            table.with(
                tabled::settings::Width::wrap(width)
                    .keep_words(true)
                    .priority(tabled::settings::peaker::PriorityMax::right()),
            );
        }
    }
    table.to_string()
}

/// Wraps `text` at word boundaries to `width` columns (tables stay readable).
pub fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    for para in text.split('\n') {
        let mut line = 0;
        if !out.is_empty() {
            out.push('\n');
        }
        for word in para.split(' ') {
            if line > 0 && line + word.len() + 1 > width {
                out.push('\n');
                line = 0;
            } else if line > 0 {
                out.push(' ');
                line += 1;
            }
            out += word;
            line += word.len();
        }
    }
    out
}

/// A duration as people write it: `90` (seconds), `90s`, `10m`, `2h`, `7d`. The error says
/// what is accepted.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let bad = || {
        format!("`{text}` is not a duration: use a number of seconds, or one with s, m, h or d (`90`, `30s`, `10m`, `12h`, `7d`)")
    };
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let factor = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(factor)
        .map(std::time::Duration::from_secs)
        .ok_or_else(bad)
}

/// The width to wrap text for: the terminal's, else 100 columns.
pub fn output_width() -> usize {
    terminal_width().unwrap_or(100)
}

/// The width of the terminal stdout is, if it is one (and not absurdly narrow).
fn terminal_width() -> Option<usize> {
    use std::io::IsTerminal;
    let out = std::io::stdout();
    if !out.is_terminal() {
        return None;
    }
    rustix::termios::tcgetwinsize(&out)
        .ok()
        .map(|w| usize::from(w.ws_col))
        .filter(|w| *w >= 40)
}

/// A count of finished steps on stderr while a command waits on hosts (`⠋ probing the live
/// hosts 3/6 (1s)`): nothing unless asked for and stderr is a terminal; cleared when dropped.
pub struct Counter(indicatif::ProgressBar);

impl Counter {
    pub fn new(what: &str, total: usize, enabled: bool) -> Counter {
        use std::io::IsTerminal;
        if !enabled || !std::io::stderr().is_terminal() {
            return Counter::hidden();
        }
        let bar = indicatif::ProgressBar::new(total as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} {pos}/{len} ({elapsed})")
                .expect("valid template"),
        );
        bar.set_message(what.to_owned());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Counter(bar)
    }

    pub fn hidden() -> Counter {
        Counter(indicatif::ProgressBar::hidden())
    }

    /// One more step done.
    pub fn inc(&self) {
        self.0.inc(1);
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// A size in IEC units: `512 B`, `4.0 KiB`, `264.0 MiB`, `1.5 GiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A duration as people write it, to the largest whole units: `45 s`, `10 min`, `2 h`,
/// `1 h 30 min`, `7 d`; under a minute with a fraction when it has one (`3.6 s`).
pub fn human_duration(seconds: f64) -> String {
    if seconds < 60.0 {
        let rounded = (seconds * 10.0).round() / 10.0;
        return if rounded.fract() == 0.0 {
            format!("{rounded:.0} s")
        } else {
            format!("{rounded:.1} s")
        };
    }
    let total = seconds.round() as u64;
    let (d, h, m, s) = (
        total / 86_400,
        total % 86_400 / 3600,
        total % 3600 / 60,
        total % 60,
    );
    let parts: Vec<String> = [(d, "d"), (h, "h"), (m, "min"), (s, "s")]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n} {unit}"))
        .collect();
    parts.join(" ")
}

/// Serializes an `f64` rounded to `D` decimals: JSON carries what the number means
/// (`262.98` minutes), not float noise (`262.98000000000138`).
pub fn rounded<const D: i32, S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    let f = 10f64.powi(D);
    s.serialize_f64((v * f).round() / f)
}

/// [`rounded`] for an optional number.
pub fn rounded_opt<const D: i32, S: serde::Serializer>(
    v: &Option<f64>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => rounded::<D, S>(v, s),
        None => s.serialize_none(),
    }
}

/// A dotted key without its array indexes: `nodes[1].port` is `nodes[].port`, as the
/// reference pages name it.
pub fn without_indexes(key: &str) -> String {
    let mut out = String::new();
    let mut in_index = false;
    for c in key.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push(c);
            }
            ']' => {
                in_index = false;
                out.push(c);
            }
            _ if in_index => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn sizes_and_durations_print_as_people_write_them() {
        use super::{human_bytes, human_duration};
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(4096), "4.0 KiB");
        assert_eq!(human_bytes(276_824_064), "264.0 MiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
        assert_eq!(human_duration(3.6), "3.6 s");
        assert_eq!(human_duration(30.0), "30 s");
        assert_eq!(human_duration(14_400.0), "4 h");
        assert_eq!(human_duration(5400.0), "1 h 30 min");
        assert_eq!(human_duration(604_800.0), "7 d");
    }

    #[test]
    fn durations_read_as_people_write_them() {
        for (text, secs) in [
            ("90", 90),
            ("90s", 90),
            ("10m", 600),
            ("2h", 7200),
            ("7d", 604_800),
            (" 8s ", 8),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs(secs)),
                "{text}"
            );
        }
        for bad in ["", "s", "8x", "-1", "1.5h", "99999999999999999999d", "h8"] {
            let e = parse_duration(bad).unwrap_err();
            assert!(
                e.contains("is not a duration") && e.contains("`10m`"),
                "{bad}: {e}"
            );
        }
    }
}
