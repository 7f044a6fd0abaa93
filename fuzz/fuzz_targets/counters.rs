//! Arbitrary bytes as one object of the `counters` format.
#![no_main]

use layercast_parse::Format;
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| common::parse_with(Format::Counters, data));
