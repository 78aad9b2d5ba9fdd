#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rnats_fuzz::jsapi::check(data));
