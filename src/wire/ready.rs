//! The line a server prints on stdout (and in `--ready-file`) once it accepts connections:
//! `{"event":"ready","node":"n1","sftp":ADDR,"health":ADDR,"pid":N}` for a node,
//! `{"event":"ready","gateway":"gw1","listen":ADDR,"health":ADDR,"pid":N}` for a gateway.
//! Written by `node run` and `gateway run`, read by the lab.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadyLine {
    /// Always `ready`.
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// A node's SFTP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sftp: Option<String>,
    /// A gateway's listening address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    pub health: String,
    pub pid: u32,
}

impl ReadyLine {
    pub fn node(name: &str, sftp: String, health: String) -> ReadyLine {
        ReadyLine {
            event: "ready".into(),
            node: Some(name.into()),
            gateway: None,
            sftp: Some(sftp),
            listen: None,
            health,
            pid: std::process::id(),
        }
    }

    pub fn gateway(name: &str, listen: String, health: String) -> ReadyLine {
        ReadyLine {
            event: "ready".into(),
            node: None,
            gateway: Some(name.into()),
            sftp: None,
            listen: Some(listen),
            health,
            pid: std::process::id(),
        }
    }

    /// Where clients connect: the node's SFTP address or the gateway's.
    pub fn addr(&self) -> Option<&str> {
        self.sftp.as_deref().or(self.listen.as_deref())
    }

    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("a ready line serializes")
    }
}
