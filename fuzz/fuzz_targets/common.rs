//! What every target shares: a sink that reads every field of every measurement, so that a
//! value the parser computes lazily or wrongly (an overflow, a bad slice) is reached.

use std::hint::black_box;

use layercast_parse::{self as parse, Format, Measurement, Sink};

#[derive(Default)]
pub struct TouchAll {
    pub measurements: u64,
    pub sum: u64,
}

impl Sink for TouchAll {
    fn measurement(&mut self, m: &Measurement<'_>) {
        self.measurements += 1;
        // Every field, through black_box so that nothing is optimised away.
        let Measurement {
            ts_ms,
            layer,
            entity,
            bytes,
            packets,
            connections,
            requests,
            errors,
            latency_ms,
            error_class,
        } = *m;
        black_box(ts_ms);
        black_box(layer);
        black_box(entity.len());
        black_box(entity.chars().count());
        black_box(latency_ms.map(f64::to_bits));
        black_box(error_class);
        self.sum = self
            .sum
            .wrapping_add(bytes)
            .wrapping_add(packets)
            .wrapping_add(connections)
            .wrapping_add(requests)
            .wrapping_add(errors);
        // What publishing does with it: an owned event (the timestamp conversion, the entity copy).
        black_box(m.to_event());
    }
}

/// Feeds `data` to a fresh parser of `format`, as one object.
pub fn parse_with(format: Format, data: &[u8]) {
    let mut sink = TouchAll::default();
    let mut parser = parse::parser_for(format);
    assert_eq!(parser.format(), format);
    let report = parse::parse_object(parser.as_mut(), data, &mut sink);
    assert!(report.errors.len() <= parse::MAX_SAMPLES);
    black_box(report);
    black_box(sink.sum);
}
