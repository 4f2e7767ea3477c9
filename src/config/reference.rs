//! The reference of every file format (cluster.toml, node.toml, gateway.toml, users.toml):
//! every key with its type, default and meaning, read from the same structs that parse and
//! validate the files (their JSON schema, derived with schemars from the serde attributes and
//! the `///` comments), so the pages cannot drift from what is accepted. `sftpha man
//! cluster.toml` prints the page; `scripts/gen` writes them to man/.

use serde_json::{Map, Value};

/// A file format with a reference page of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Cluster,
    Node,
    Gateway,
    Users,
}

/// One key of a file: `gateway.vip`, or `name` in each `[[nodes]]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// The table it sits in: `""` for the top, `gateway`, `[nodes]` for each `[[nodes]]`.
    pub table: String,
    pub name: String,
    /// `string`, `integer`, `array of strings`, `one of "off", "optional", "required"`.
    pub kind: String,
    /// What it is when left out (TOML syntax); `None` for a required key.
    pub default: Option<String>,
    pub required: bool,
    pub meaning: String,
    /// For a choice: each value and what it means.
    pub values: Vec<(String, String)>,
}

impl Key {
    /// The dotted path as error messages name it: `gateway.vip`, `nodes[].port`.
    pub fn path(&self) -> String {
        match self.table.as_str() {
            "" => self.name.clone(),
            table => format!("{}.{}", table_path(table), self.name),
        }
    }
}

/// `[nodes]` (each table of an array) is `nodes[]` in a key path.
fn table_path(table: &str) -> String {
    match table.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        Some(array) => format!("{array}[]"),
        None => table.to_owned(),
    }
}

impl FileFormat {
    pub const ALL: [FileFormat; 4] = [
        FileFormat::Cluster,
        FileFormat::Node,
        FileFormat::Gateway,
        FileFormat::Users,
    ];

    /// The file's usual name, also the argument of `sftpha man`.
    pub fn file(self) -> &'static str {
        match self {
            FileFormat::Cluster => "cluster.toml",
            FileFormat::Node => "node.toml",
            FileFormat::Gateway => "gateway.toml",
            FileFormat::Users => "users.toml",
        }
    }

    /// The page's name in section 5: `sftpha-cluster.toml`.
    pub fn page(self) -> String {
        format!("sftpha-{}", self.file())
    }

    pub fn from_file(name: &str) -> Option<FileFormat> {
        FileFormat::ALL.into_iter().find(|f| f.file() == name)
    }

    fn summary(self) -> &'static str {
        match self {
            FileFormat::Cluster => "the definition of an sftpha cluster",
            FileFormat::Node => "the configuration of one bundled SFTP node",
            FileFormat::Gateway => "the configuration of the bundled TCP gateway",
            FileFormat::Users => "the users of an sftpha cluster",
        }
    }

    fn description(self) -> &'static str {
        match self {
            FileFormat::Cluster => {
                "The one file an operator writes: the business objectives, the hosts, the storage, the gateway tier and how sftpha reaches the hosts. `sftpha init` writes a commented one; `sftpha assess` judges it; `sftpha provision` makes every host what it says. Paths are relative to the file. The commands read ./cluster.toml unless -c or SFTPHA_CLUSTER names another."
            }
            FileFormat::Node => {
                "Read by `sftpha node run --config FILE`. `sftpha provision` renders it from templates/node.toml.j2, the same on every node except `name`. Relative paths are relative to the file. SIGHUP re-reads users.toml and the keys named below as reloadable; other changes need a restart. `sftpha node check --config FILE` validates it."
            }
            FileFormat::Gateway => {
                "Read by `sftpha gateway run --config FILE`. `sftpha provision` renders it from templates/gateway.toml.j2 with one backend per node of cluster.toml."
            }
            FileFormat::Users => {
                "The cluster's users, one [[users]] table each, the same file on every node. Edited by `sftpha users` (comments and order kept) and pushed to every node, which re-reads it without a restart. A user logs in with any of their keys, or their password if they have a hash, and is jailed in their home below the storage."
            }
        }
    }

    /// The JSON schema of the file, as the parser reads it.
    fn schema(self) -> Value {
        let schema = match self {
            FileFormat::Cluster => schemars::schema_for!(crate::config::cluster::ClusterFile),
            FileFormat::Node => schemars::schema_for!(crate::config::node::NodeConfig),
            FileFormat::Gateway => schemars::schema_for!(crate::config::gateway::GatewayFile),
            FileFormat::Users => schemars::schema_for!(crate::config::users::UsersFile),
        };
        schema.to_value()
    }

    /// Every key of the file, table by table (the top first, then sections by name).
    pub fn keys(self) -> Vec<Key> {
        let root = self.schema();
        let mut keys = Vec::new();
        walk(&root, &root, "", &mut keys);
        keys.sort_by(|a, b| (!a.table.is_empty(), &a.table).cmp(&(!b.table.is_empty(), &b.table)));
        keys
    }

    /// The key that an error's dotted key (`nodes[1].port`, `gateway.vip`) names, if any.
    pub fn key(self, dotted: &str) -> Option<Key> {
        let wanted = crate::text::without_indexes(dotted);
        self.keys().into_iter().find(|k| k.path() == wanted)
    }

    /// The hint under an error in a file of this format: the page to read, and the key in it
    /// when the key is one of the format's.
    pub fn hint(self, key: Option<&str>) -> String {
        let page = self.file();
        // An error may name a key without its table (`replicas`): then the one key of that name.
        let named = |k: &str| {
            self.key(k).or_else(|| {
                let mut same: Vec<Key> = self
                    .keys()
                    .into_iter()
                    .filter(|key| key.name == k)
                    .collect();
                (same.len() == 1).then(|| same.remove(0))
            })
        };
        match key.and_then(named) {
            Some(key) => format!(
                "fix the file and run again; `sftpha man {page}` documents `{}`: its type, default and meaning",
                key.path()
            ),
            None => format!(
                "fix the file and run again; `sftpha man {page}` documents every key: its type, default and meaning"
            ),
        }
    }

    /// The page in roff, for `man`.
    pub fn roff(self) -> String {
        let mut out = String::new();
        let version = env!("CARGO_PKG_VERSION");
        out.push_str(&format!(
            ".TH {} 5 \"\" \"sftpha {version}\" \"File formats\"\n",
            self.page()
        ));
        out.push_str(&format!(
            ".SH NAME\n{} \\- {}\n",
            escape(self.file()),
            escape(self.summary())
        ));
        out.push_str(&format!(
            ".SH DESCRIPTION\n{}\n",
            escape(self.description())
        ));
        out.push_str(".PP\nEvery key below is checked when the file is read: an unknown key, a wrong type or a bad value stops the command with exit 2, and the error names the file, the key and the line.\n");
        out.push_str(".SH KEYS\n");
        let mut table = None;
        for key in self.keys() {
            if table.as_ref() != Some(&key.table) {
                let heading = match key.table.as_str() {
                    "" => "Top level".to_owned(),
                    t if t.starts_with('[') => format!("[{t}] (one table each)"),
                    t => format!("[{t}]"),
                };
                out.push_str(&format!(".SS {}\n", escape(&heading)));
                table = Some(key.table.clone());
            }
            out.push_str(&format!(
                ".TP\n.B {}\n{}",
                escape(&key.name),
                escape(&key.kind)
            ));
            match (&key.default, key.required) {
                (_, true) => out.push_str(", required"),
                (Some(d), _) => out.push_str(&format!(", default \\fB{}\\fR", escape(d))),
                (None, false) => out.push_str(", optional"),
            }
            out.push_str(&format!(".\n{}\n", escape(&key.meaning)));
            for (value, meaning) in &key.values {
                out.push_str(&format!(
                    ".RS\n.TP\n.B {}\n{}\n.RE\n",
                    escape(&format!("\"{value}\"")),
                    escape(meaning)
                ));
            }
        }
        out.push_str(".SH SEE ALSO\n");
        let others: Vec<String> = FileFormat::ALL
            .into_iter()
            .filter(|f| *f != self)
            .map(|f| format!("\\fB{}\\fR(5)", escape(&f.page())))
            .collect();
        out.push_str(&format!("\\fBsftpha\\fR(1), {}\n", others.join(", ")));
        out
    }
}

/// Escapes text for roff: backslashes, and a leading `.` or `'` that would read as a request.
fn escape(text: &str) -> String {
    let text = text.replace('\\', "\\e").replace('-', "\\-");
    if text.starts_with('.') || text.starts_with('\'') {
        format!("\\&{text}")
    } else {
        text
    }
}

/// The schema a `$ref` points at (itself when it is none).
fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(path) => {
            let name = path.rsplit('/').next().unwrap_or_default();
            root.pointer(&format!("/$defs/{name}")).unwrap_or(schema)
        }
        None => schema,
    }
}

/// `T` of an optional value (`anyOf [T, null]` or `type: [T, "null"]`).
fn non_null<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
        if let Some(t) = any
            .iter()
            .find(|s| s.get("type") != Some(&Value::from("null")))
        {
            return resolve(root, t);
        }
    }
    resolve(root, schema)
}

fn properties(schema: &Value) -> Option<&Map<String, Value>> {
    schema.get("properties").and_then(Value::as_object)
}

fn walk(root: &Value, schema: &Value, table: &str, keys: &mut Vec<Key>) {
    let schema = resolve(root, schema);
    let Some(props) = properties(schema) else {
        return;
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (name, prop) in props {
        let target = non_null(root, prop);
        let nested = |t: &str| match table {
            "" => t.to_owned(),
            _ => format!("{}.{t}", table_path(table)),
        };
        if properties(target).is_some() {
            walk(root, target, &nested(name), keys);
            continue;
        }
        if target.get("type") == Some(&Value::from("array")) {
            if let Some(items) = target.get("items") {
                let items = resolve(root, items);
                if properties(items).is_some() {
                    walk(root, items, &format!("[{}]", nested(name)), keys);
                    continue;
                }
            }
        }
        let meaning = description(prop)
            .or_else(|| description(target))
            .unwrap_or_default();
        keys.push(Key {
            table: table.to_owned(),
            name: name.clone(),
            kind: kind(root, target),
            default: prop.get("default").filter(|d| !d.is_null()).map(toml_value),
            required: required.contains(&name.as_str()),
            meaning,
            values: choices(root, target),
        });
    }
}

fn description(schema: &Value) -> Option<String> {
    let text = schema.get("description").and_then(Value::as_str)?;
    // One paragraph: the doc comment's line breaks are not the page's.
    Some(text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The values of a choice with what each means (from the enum's `///` comments).
fn choices(root: &Value, schema: &Value) -> Vec<(String, String)> {
    let schema = resolve(root, schema);
    let Some(one_of) = schema.get("oneOf").and_then(Value::as_array) else {
        return Vec::new();
    };
    one_of
        .iter()
        .filter_map(|v| {
            let value = v
                .get("const")
                .or_else(|| v.get("enum").and_then(|e| e.get(0)))?
                .as_str()?;
            Some((value.to_owned(), description(v).unwrap_or_default()))
        })
        .collect()
}

fn kind(root: &Value, schema: &Value) -> String {
    let schema = resolve(root, schema);
    let choice = choices(root, schema);
    if !choice.is_empty() {
        let names: Vec<String> = choice.iter().map(|(v, _)| format!("\"{v}\"")).collect();
        return format!("one of {}", names.join(", "));
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let names: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        return format!("one of {}", names.join(", "));
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    match types.iter().find(|t| **t != "null").copied() {
        Some("array") => {
            let item = schema
                .get("items")
                .map(|i| kind(root, i))
                .unwrap_or_else(|| "value".into());
            format!("array of {item}s")
        }
        Some("string") => match schema.get("format").and_then(Value::as_str) {
            Some("date") => "date (YYYY-MM-DD)".into(),
            _ => "string".into(),
        },
        Some("integer") => "integer".into(),
        Some("number") => "number".into(),
        Some("boolean") => "boolean".into(),
        Some(other) => other.to_owned(),
        None => "value".into(),
    }
}

/// A default as it would be written in the file.
fn toml_value(value: &Value) -> String {
    match value {
        Value::String(s) => format!("\"{s}\""),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(toml_value).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Null => "none".into(),
        Value::Object(_) => "{}".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key of every file has a meaning and a type, and the pages name the keys the
    /// errors name.
    #[test]
    fn every_key_is_documented() {
        for format in FileFormat::ALL {
            let keys = format.keys();
            assert!(keys.len() >= 5, "{format:?}: {keys:?}");
            for key in &keys {
                assert!(
                    !key.meaning.is_empty(),
                    "{}: key `{}` has no `///` comment",
                    format.file(),
                    key.path()
                );
                assert!(!key.kind.is_empty() && key.kind != "value", "{key:?}");
                assert!(
                    !key.meaning.contains("[`"),
                    "{}: key `{}` links to code: {}",
                    format.file(),
                    key.path(),
                    key.meaning
                );
            }
            let page = format.roff();
            assert!(page.starts_with(&format!(".TH {} 5", format.page())));
        }
        let vip = FileFormat::Cluster.key("gateway.vip").expect("documented");
        assert_eq!(vip.default.as_deref(), Some("\"\""));
        let port = FileFormat::Cluster
            .key("nodes[1].port")
            .expect("documented");
        assert_eq!(port.table, "[nodes]");
        let rto = FileFormat::Cluster.key("objectives.rto_seconds").unwrap();
        assert_eq!(rto.kind, "integer");
        assert!(rto.default.is_some());
        let mode = FileFormat::Node.key("proxy_protocol").unwrap();
        assert_eq!(mode.kind, "one of \"off\", \"optional\", \"required\"");
        assert_eq!(mode.values.len(), 3);
        let name = FileFormat::Users.key("users[0].name").unwrap();
        assert!(name.required);
        assert!(FileFormat::Cluster.key("gateway.nope").is_none());
        let hint = FileFormat::Cluster.hint(Some("replicas"));
        assert!(
            hint.contains("`sftpha man cluster.toml` documents `storage.replicas`"),
            "{hint}"
        );
        let hint = FileFormat::Cluster.hint(Some("port"));
        assert!(hint.contains("documents every key"), "{hint}");
    }
}
