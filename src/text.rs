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
