//! One file per subcommand: its clap arguments and its `run`.

pub mod assess;
pub mod completions;
pub mod gateway;
pub mod init;
pub mod inventory;
pub mod keys;
pub mod lab;
pub mod man;
pub mod node;
pub mod provision;
pub mod status;
pub mod test_failover;
pub mod upgrade;
pub mod users;

/// Prints a server's ready line on stdout and, if asked, writes it to a file atomically.
pub fn announce(line: &str, file: Option<&std::path::Path>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    if let Some(path) = file {
        if let Err(e) = crate::files::write_atomically(path, format!("{line}\n").as_bytes(), 0o644)
        {
            tracing::error!("could not write the ready file: {e}");
        }
    }
}

/// Runs a server future (node or gateway) on a multi-threaded runtime until it returns; work
/// still running on worker threads afterwards gets a second to finish before the process exits.
pub fn serve<F>(thread_name: &str, server: F) -> crate::error::Result<u8>
where
    F: std::future::Future<Output = crate::error::Result<()>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name(thread_name)
        .build()?;
    runtime.block_on(server)?;
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    Ok(crate::error::exit::OK)
}

/// Prints a command's report on stdout: pretty JSON, or the human text.
pub fn print_report<T: serde::Serialize>(
    format: crate::cli::Format,
    report: &T,
    human: impl FnOnce(&T) -> String,
) -> crate::error::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match format {
        crate::cli::Format::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(report).expect("reports serialize")
        )?,
        _ => write!(out, "{}", human(report))?,
    }
    out.flush()?;
    Ok(())
}
