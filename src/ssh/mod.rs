//! SSH as a client, on russh: commands and file writes on the cluster's hosts ([`remote`]),
//! the cluster's known_hosts ([`known_hosts`]), the SFTP client test-failover and provision's
//! login checks drive ([`sftp`]), and what keys a server presents ([`keyscan`]). Every
//! connection out checks the host key; none of this knows about the cluster's commands.

pub mod keyscan;
pub mod known_hosts;
pub mod remote;
pub mod sftp;
