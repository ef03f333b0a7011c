#![no_main]
//! Loads a container built from the input (see `quiver_fuzz::decode`) as a Text file.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    quiver_fuzz::run(quiver_fuzz::loader_common::Loader::Text, data);
});
