//! Arbitrary bytes as one input object, as `layercast replay` and the inbox read it: gzip
//! decoded when it starts with gzip's magic bytes, its format detected from its first lines,
//! then parsed with that format's parser.
#![no_main]

use layercast::ingest::object;
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let (bytes, broken) = object::decode(data.to_vec());
    std::hint::black_box(broken);
    if let Some(format) = object::detect(&bytes) {
        common::parse_with(format, &bytes);
    }
});
