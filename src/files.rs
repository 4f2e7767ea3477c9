//! Writing files so that readers never see half of one and secrets never exist with wider
//! permissions than their final ones.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::{Error, Result};

/// Writes `path` through a temporary file created with `mode`, then renames it into place.
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        Error::WriteFile {
            path: path.to_owned(),
            source,
        }
    })
}

/// Reads a whole text file; the error names it.
pub fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| crate::error::Error::ReadFile {
        path: path.to_owned(),
        source,
    })
}

/// Parses a TOML document; the error names the file, and the line and column.
pub fn parse_toml<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T> {
    toml::from_str(text).map_err(|e| {
        let key = e.span().and_then(|span| toml_key_at(text, span.start));
        crate::error::Error::config(
            path,
            key.as_deref(),
            in_toml_words(e.message()) + &toml_location(text, e.span()),
        )
    })
}

/// serde's words for types (`expected u64`, `a sequence`) in the words of a TOML file.
fn in_toml_words(message: &str) -> String {
    let mut text = message.to_owned();
    for (rust, toml) in [
        ("expected u64", "expected a whole number"),
        ("expected u32", "expected a whole number"),
        ("expected u16", "expected a whole number (0 to 65535)"),
        ("expected usize", "expected a whole number"),
        ("expected i64", "expected a whole number"),
        ("expected f64", "expected a number"),
        ("expected a sequence", "expected a list, `[...]`"),
        ("invalid type: sequence", "invalid type: a list"),
        ("expected a boolean", "expected true or false"),
    ] {
        text = text.replace(rust, toml);
    }
    // A TOML date or time where text is wanted (`expires = 2027-03-31`): the quotes are missing.
    if text.contains("invalid type: map, expected a string") {
        text += "; a date or time here is written in quotes, `\"2027-03-31\"`";
    }
    text
}

/// Reads a JSON record sftpha keeps (`what` names it in errors); a missing file is the
/// record's default.
pub fn read_record<T: serde::de::DeserializeOwned + Default>(path: &Path, what: &str) -> Result<T> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| Error::config(path, None, format!("not {what}: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(source) => Err(Error::ReadFile {
            path: path.to_owned(),
            source,
        }),
    }
}

/// The dotted key whose `key = value` line holds byte `at` (`gateway.vip`, `nodes[1].port`),
/// from the line and the table headers above it; `None` when that line is not a plain
/// `key = value` (a header, a continued array).
pub fn toml_key_at(text: &str, at: usize) -> Option<String> {
    let at = at.min(text.len());
    let start = text[..at].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line = text[start..].lines().next().unwrap_or("");
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    let plain = |k: &str| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    if !plain(key) {
        return None;
    }
    // The table it is in: the last header above, with `[[array]]` entries counted.
    let mut table: Option<String> = None;
    let mut counts: std::collections::HashMap<String, usize> = Default::default();
    // A header may carry a comment (`[storage]   # the shared storage`), as `init` writes them.
    for header in text[..start]
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
    {
        if let Some(name) = header.strip_prefix("[[").and_then(|h| h.strip_suffix("]]")) {
            let name = name.trim().to_owned();
            let n = counts.entry(name.clone()).or_insert(0);
            table = Some(format!("{name}[{n}]"));
            *n += 1;
        } else if let Some(name) = header.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            table = Some(name.trim().to_owned());
        }
    }
    Some(match table {
        Some(t) => format!("{t}.{key}"),
        None => key.to_owned(),
    })
}

/// " (line L, column C)" for a byte span of a TOML document.
pub fn toml_location(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(span) = span else {
        return String::new();
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    format!(" (line {line}, column {column})")
}

#[cfg(test)]
mod tests {
    use super::toml_key_at;

    #[test]
    fn keys_are_found_from_the_line_and_the_headers_above() {
        let text = "name = \"x\"\n[[nodes]]\nname = \"a\"\n[[nodes]]\nport = \"no\"\n[gateway]\nvip = \"nope\"\nhosts = [\n  1,\n]\n";
        let at = |needle: &str| text.find(needle).unwrap();
        assert_eq!(toml_key_at(text, at("\"x\"")).as_deref(), Some("name"));
        assert_eq!(
            toml_key_at(text, at("\"no\"")).as_deref(),
            Some("nodes[1].port")
        );
        assert_eq!(
            toml_key_at(text, at("\"nope\"")).as_deref(),
            Some("gateway.vip")
        );
        assert_eq!(toml_key_at(text, at("  1,")), None);
        assert_eq!(toml_key_at(text, at("[gateway]")), None);
        assert_eq!(
            super::in_toml_words("invalid type: string \"x\", expected u64"),
            "invalid type: string \"x\", expected a whole number"
        );
        // Headers with comments, as `init` writes them.
        let text = "[storage]          # shared\nreplicas = \"two\"\n";
        assert_eq!(
            toml_key_at(text, text.find("\"two\"").unwrap()).as_deref(),
            Some("storage.replicas")
        );
    }
}
