//! Inputs the fuzzers found (tests/fuzz_regressions/TARGET/) and the fuzzers' seeds
//! (fuzz/seeds/TARGET/), replayed through the same entry points: none may panic again.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut inputs = 0;
    for dir in [
        root.join("tests/fuzz_regressions").join(target),
        root.join("fuzz/seeds").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "md") {
                continue;
            }
            let data = std::fs::read(&path).unwrap();
            let replayed = std::panic::catch_unwind(|| run(&data));
            assert!(replayed.is_ok(), "{} panics {target}", path.display());
            inputs += 1;
        }
    }
    assert!(inputs > 0, "no input for {target}");
}

#[test]
fn sftp_session_inputs_found_by_fuzzing() {
    replay("sftp_session", sftpha::node::fuzzing::sftp_session);
}

#[test]
fn proxy_header_inputs_found_by_fuzzing() {
    replay("proxy_header", sftpha::node::fuzzing::proxy_header);
}

#[test]
fn config_file_inputs_found_by_fuzzing() {
    replay("config_files", sftpha::node::fuzzing::config_files);
}
