#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsreactor::fuzz::eio_packets::run(data));
