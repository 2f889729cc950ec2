//! `cargo fuzz run tail_repair`: see src/fuzz_checks.rs for the invariants checked.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| session_write_lock::fuzz_checks::check_tail_repair(data));
