//! The `sftpha` binary: everything lives in the library.

/// jemalloc returns freed memory to the system (a background thread purges pages unused for a
/// while), where glibc keeps what a connection's thread freed in its arenas: a flood of
/// sessions left 110 MiB resident after it ended (SECURITY.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    sftpha::run::main()
}
