#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsreactor::fuzz::engine::run(data));
