//! The `sftpha` binary: everything lives in the library.

fn main() -> std::process::ExitCode {
    sftpha::run::main()
}
