use layercast_shared::Event;

use super::super::parse_object;
use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/counters");

fn run(parser: &mut CountersParser, lines: &[&str]) -> Vec<Result<Vec<Event>, String>> {
    lines
        .iter()
        .map(|l| {
            let mut out = Vec::new();
            parser.line(l.as_bytes(), &mut out).map(|_| out)
        })
        .collect()
}

#[test]
fn wraps_and_resets_give_exactly_the_expected_deltas() {
    let input = std::fs::read(format!("{FIXTURES}/wrap-and-reset.jsonl")).expect("fixture");
    let expected: serde_json::Value = serde_json::from_slice(
        &std::fs::read(format!("{FIXTURES}/wrap-and-reset.expected.json")).expect("expected"),
    )
    .expect("json");
    let want: Vec<Event> = serde_json::from_value(expected["events"].clone()).expect("events");
    let mut parser = CountersParser::new();
    let mut got = Vec::new();
    let report = parse_object(&mut parser, &input, &mut got);
    assert_eq!(got, want);
    let refused: Vec<u64> =
        serde_json::from_value(expected["refused_lines"].clone()).expect("lines");
    assert_eq!(
        report.errors.iter().map(|e| e.line).collect::<Vec<_>>(),
        refused,
        "{:#?}",
        report.errors
    );
    assert_eq!(Some(report.records), expected["records"].as_u64());
    assert_eq!(Some(report.skipped), expected["skipped"].as_u64());
    let stats = &expected["stats"];
    assert_eq!(
        parser.stats(),
        CounterStats {
            first_samples: stats["first_samples"].as_u64().expect("first"),
            wraps: stats["wraps"].as_u64().expect("wraps"),
            resets: stats["resets"].as_u64().expect("resets"),
        }
    );
    let reasons: Vec<&str> = report.errors.iter().map(|e| e.reason.as_str()).collect();
    for (reason, needle) in reasons.iter().zip([
        "not a counter sample",
        "not newer than its last one at 2026-11-25T10:01:00+00:00",
        "at 2026-11-25T09:59:00+00:00 is not newer",
        "integer `-5`",
        "unknown field `in_octet`",
        "does not fit the declared 32 bits",
        "\"sideways\" is not an interface status",
    ]) {
        assert!(reason.contains(needle), "{reason:?} lacks {needle:?}");
    }
}

#[test]
fn the_first_sample_measures_nothing_and_the_next_its_delta() {
    let mut parser = CountersParser::new();
    let got = run(
        &mut parser,
        &[
            r#"{"ts":1000,"device":"r1","interface":"ge-0/0/1","in_octets":100,"out_octets":50,"in_pkts":2}"#,
            r#"{"ts":61000,"device":"r1","interface":"ge-0/0/1","in_octets":400,"out_octets":50,"in_pkts":5}"#,
        ],
    );
    assert_eq!(got[0], Ok(vec![]));
    let second = got[1].as_ref().expect("second");
    assert_eq!(second.len(), 1, "no CRC counter and no status: no L1");
    let e = &second[0];
    assert_eq!(
        (e.layer, e.entity.as_str(), e.bytes, e.packets, e.errors),
        (OsiLayer::L2, "r1/ge-0/0/1", 300, 3, 0)
    );
    assert_eq!(e.ts.timestamp_millis(), 61_000);
}

#[test]
fn a_counter_left_out_keeps_its_last_value() {
    let mut parser = CountersParser::new();
    let got = run(
        &mut parser,
        &[
            r#"{"ts":0,"device":"d","interface":"i","in_octets":100}"#,
            r#"{"ts":60000,"device":"d","interface":"i","in_octets":null}"#,
            r#"{"ts":120000,"device":"d","interface":"i","in_octets":700}"#,
        ],
    );
    assert_eq!(got[1], Ok(vec![]), "nothing to measure");
    assert_eq!(
        got[2].as_ref().expect("third")[0].bytes,
        600,
        "both intervals' traffic, none lost"
    );
}

#[test]
fn after_a_reset_only_the_new_values_are_the_baseline() {
    let mut parser = CountersParser::new();
    let got = run(
        &mut parser,
        &[
            r#"{"ts":0,"device":"d","interface":"i","uptime_ms":900000,"in_octets":100,"out_octets":100}"#,
            r#"{"ts":60000,"device":"d","interface":"i","uptime_ms":5000,"in_octets":10}"#,
            r#"{"ts":120000,"device":"d","interface":"i","uptime_ms":65000,"in_octets":20,"out_octets":7}"#,
        ],
    );
    assert_eq!(got[1], Ok(vec![]), "restarted: skipped");
    let third = &got[2].as_ref().expect("third")[0];
    assert_eq!(
        third.bytes, 10,
        "out_octets has no baseline since the restart"
    );
    assert_eq!(parser.stats().resets, 1);
}

#[test]
fn a_counter_that_goes_down_wraps_only_when_it_can() {
    let interval = |width, speed_bps| Interval {
        dt_ms: 60_000,
        speed_bps,
        width,
        restarted: false,
    };
    let top32 = u64::from(u32::MAX);
    // 32 bits, just over the top.
    assert_eq!(
        interval(Width::ByValue, None).wrapped(top32 - 9, 5, None),
        Some(15)
    );
    assert_eq!(
        interval(Width::Bits32, None).wrapped(top32 - 9, 5, None),
        Some(15)
    );
    // Declared 64 bits: the same fall is a reset (a 64-bit counter does not wrap near 2^32).
    assert_eq!(
        interval(Width::Bits64, None).wrapped(top32 - 9, 5, None),
        None
    );
    assert_eq!(
        interval(Width::Bits64, None).wrapped(u64::MAX - 9, 5, None),
        Some(15)
    );
    // Values past 32 bits: judged as 64 bits.
    assert_eq!(
        interval(Width::ByValue, None).wrapped(1 << 40, 5, None),
        None
    );
    // More than half the range: a reset.
    assert_eq!(
        interval(Width::ByValue, None).wrapped(1 << 30, 5, None),
        None
    );
    // Within half the range, but beyond 1 Gb/s for a minute (8.25 GB with slack).
    let gig = interval(Width::ByValue, Some(1_000_000_000));
    assert_eq!(gig.ceiling(true), Some(8_250_000_000));
    assert_eq!(gig.ceiling(false), Some(8_250_000_000 / 84));
    let slow = interval(Width::ByValue, Some(1_000_000));
    assert_eq!(slow.wrapped(top32 - 9_999_999, 0, slow.ceiling(true)), None);
    assert_eq!(slow.wrapped(top32 - 999, 0, slow.ceiling(true)), Some(1000));
    // A restarted device never wraps.
    let restarted = Interval {
        restarted: true,
        ..interval(Width::ByValue, None)
    };
    assert_eq!(
        restarted.deltas(&[Some(5); COUNTERS], &[Some(9); COUNTERS]),
        None
    );
}

#[test]
fn statuses_are_read_as_if_mib_and_openconfig_write_them() {
    let up = |json: &str| {
        serde_json::from_str::<Status>(json)
            .map_err(|e| e.to_string())
            .and_then(|s| s.is_up())
    };
    assert_eq!(up("\"up\""), Ok(true));
    assert_eq!(up("\"UP\""), Ok(true));
    assert_eq!(up("1"), Ok(true));
    assert_eq!(up("\"LOWER_LAYER_DOWN\""), Ok(false));
    assert_eq!(up("\"lowerLayerDown\""), Ok(false));
    assert_eq!(up("7"), Ok(false));
    assert!(up("8").is_err());
    assert!(up("true").is_err());
}

#[test]
fn mangled_lines_never_panic() {
    let input =
        std::fs::read_to_string(format!("{FIXTURES}/wrap-and-reset.jsonl")).expect("fixture");
    let lines: Vec<&[u8]> = input.lines().map(str::as_bytes).collect();
    let mut mangler =
        super::super::Mangler::new(0x2545_F491_4F6C_DD1D, b"{}[]\",:-019eE.\\ nul\xff");
    let mut parser = CountersParser::new();
    for _ in 0..20_000 {
        let line = mangler.mangle(&lines);
        let _ = parser.line(&line, &mut Vec::new());
    }
    // Extremes of time and value.
    let mut p = CountersParser::new();
    for line in [
        r#"{"ts":-9223372036854775808,"device":"d","interface":"i","in_octets":18446744073709551615,"speed_bps":18446744073709551615}"#,
        r#"{"ts":9223372036854775807,"device":"d","interface":"i","in_octets":0,"speed_bps":18446744073709551615}"#,
    ] {
        let _ = p.line(line.as_bytes(), &mut Vec::new());
    }
}

#[test]
fn sniff_knows_counter_samples_and_nothing_else() {
    let fixture = std::fs::read(format!("{FIXTURES}/wrap-and-reset.jsonl")).expect("fixture");
    let first: Vec<&[u8]> = fixture.split(|&b| b == b'\n').take(20).collect();
    assert!(sniff(&first));
    assert!(sniff(&[
        br#"{"ts":1,"device":"d","interface":"i","oper_status":"up"}"#
    ]));
    assert!(
        !sniff(&[br#"{"ts":1,"device":"d","interface":"i"}"#]),
        "no counter at all"
    );
    assert!(!sniff(&[br#"{"ts":1,"layer":"L3","entity":"a"}"#]));
    assert!(!sniff(&[]));
    let shared = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata");
    for rel in [
        "aws/vpcflow/elastic-integrations/test-with-message-field.log",
        "aws/vpcflow/elastic-beats/accept-reject-traffic.log",
        "aws/alb/elastic-integrations/test-alb.log",
        "zeek/wrccdc-2018/json/dns.json",
        "zeek/wrccdc-2018/json/snmp.json",
        "zeek/stratosphere/002-portscan-json/conn.log",
    ] {
        let path = format!("{shared}/{rel}");
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let lines: Vec<&[u8]> = bytes[..bytes.len().min(64 * 1024)]
            .split(|&b| b == b'\n')
            .take(20)
            .collect();
        assert!(!sniff(&lines), "{rel}");
    }
}

#[test]
fn a_value_too_wide_for_its_declared_counter_is_a_reset_not_a_panic() {
    let mut parser = CountersParser::new();
    let mut events: Vec<layercast_shared::Event> = Vec::new();
    let lines: [&[u8]; 2] = [
        br#"{"ts":1700000000000,"device":"sw1","interface":"et1","in_octets":4299746000,"out_octets":10,"oper_status":"up"}"#,
        br#"{"ts":1700000060000,"device":"sw1","interface":"et1","in_octets":100,"out_octets":20,"oper_status":2,"counter_bits":32}"#,
    ];
    for line in lines {
        assert!(parser.line(line, &mut events).is_ok());
    }
    assert!(
        events.iter().all(|e| e.layer != OsiLayer::L2),
        "no L2 delta invented: {events:?}"
    );
}
