#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rnats_fuzz::jsstore::check(data));
