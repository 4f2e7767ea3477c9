//! Every network wait of sftpha, named in one place.

use std::time::Duration;

/// How long a trusted proxy has to send its PROXY header after connecting.
pub const PROXY_HEADER: Duration = Duration::from_secs(3);
/// In `proxy_protocol = "optional"` mode, how long to wait for a header before serving the
/// connection as plain SSH (real SSH clients send their banner at once).
pub const PROXY_OPTIONAL_WAIT: Duration = Duration::from_millis(500);
/// How long the HTTP health endpoint waits for a request.
pub const HTTP_REQUEST: Duration = Duration::from_secs(5);
/// A storage write check that takes longer than this marks the storage not writable.
pub const STORAGE_CHECK: Duration = Duration::from_secs(5);
/// How often the node looks at users.toml for changes.
pub const USERS_POLL: Duration = Duration::from_secs(1);
/// Delay before a failed authentication is answered (constant, so timing reveals nothing).
pub const AUTH_REJECTION: Duration = Duration::from_millis(200);
/// How often the drain loop looks at open transfers.
pub const DRAIN_POLL: Duration = Duration::from_millis(100);
/// How long `assess --probe` waits for one answer (a health check, an SSH banner and key).
pub const PROBE: Duration = Duration::from_secs(5);
