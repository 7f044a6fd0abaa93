//! Arbitrary bytes as one input object, as `layercast replay` and the inbox read it: gzip
//! decoded when it starts with gzip's magic bytes, its format detected from its first lines,
//! then parsed with that format's parser.
#![no_main]

use layercast_parse::object;
use libfuzzer_sys::fuzz_target;

mod common;

/// Far below the product's cap: enough to reach every path of decoding past the cap, small
/// enough that a tiny gzip bomb costs milliseconds, not a timeout.
const DECODED_CAP: usize = 16 << 20;

fuzz_target!(|data: &[u8]| {
    let (bytes, broken) = object::decode_at_most(data.to_vec(), DECODED_CAP);
    std::hint::black_box(broken);
    if let Some(format) = object::detect(&bytes) {
        common::parse_with(format, &bytes);
    }
});
