//! Bytes on the wire, no policy: the PROXY protocol, the small HTTP server and client of the
//! health endpoints, the typed `/healthz` bodies every reader shares, and the Prometheus
//! writer.

pub mod health;
pub mod http;
pub mod metrics;
pub mod proxy;
pub mod ready;
