//! Fuzz target: `sftpha::node::fuzzing::config_files` must never panic, whatever the input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sftpha::node::fuzzing::config_files(data);
});
