use layercast_shared::Event;

use super::super::parse_object;
use super::transport::TransportView;
use super::*;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/aws/vpcflow");

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(format!("{DATA}/{rel}")).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn events(parser: &mut VpcFlowParser, input: &[u8]) -> (Vec<Event>, super::super::ObjectReport) {
    let mut out = Vec::new();
    let report = parse_object(parser, input, &mut out);
    (out, report)
}

fn one(line: &str) -> Result<Vec<Event>, String> {
    let mut out = Vec::new();
    VpcFlowParser::new()
        .line(line.as_bytes(), &mut out)
        .map(|_| out)
}

fn ts(secs: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(secs, 0).expect("time")
}

#[test]
fn a_default_line_gives_l3_per_interface_and_l4_per_service_port() {
    let got = one("2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK")
        .expect("parses");
    assert_eq!(got.len(), 2);
    let (l3, l4) = (&got[0], &got[1]);
    assert_eq!(
        (
            l3.layer,
            l3.entity.as_str(),
            l3.bytes,
            l3.packets,
            l3.errors
        ),
        (OsiLayer::L3, "eni-1235b8ca123456789", 4249, 20, 0)
    );
    assert_eq!(l3.ts, ts(1_418_530_010));
    assert_eq!(
        (l4.layer, l4.entity.as_str(), l4.connections, l4.bytes),
        (OsiLayer::L4, "eni-1235b8ca123456789:22/tcp", 1, 4249)
    );
    // The answer of the server: same service, not a new connection.
    let back = one("2 123456789010 eni-1235b8ca123456789 172.31.16.21 172.31.16.139 22 20641 6 18 5000 1418530010 1418530070 ACCEPT OK")
        .expect("parses");
    assert_eq!(
        (back[1].entity.as_str(), back[1].connections),
        ("eni-1235b8ca123456789:22/tcp", 0)
    );
}

#[test]
fn a_rejected_flow_is_an_l3_error_and_never_reaches_l4() {
    let got = one("2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK")
        .expect("parses");
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].errors, got[0].error_class, got[0].bytes),
        (1, Some(ErrorClass::Rejected), 4249)
    );
}

#[test]
fn icmp_is_l3_only_and_nodata_skipdata_measure_nothing() {
    let icmp = one("2 123456789010 eni-1235b8ca123456789 203.0.113.12 172.31.16.139 0 0 1 4 336 1432917027 1432917142 ACCEPT OK").expect("icmp");
    assert_eq!(icmp.len(), 1);
    for status in ["NODATA", "SKIPDATA"] {
        let line = format!(
            "2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - {status}"
        );
        let mut out = Vec::new();
        assert_eq!(
            VpcFlowParser::new().line(line.as_bytes(), &mut out),
            Ok(LineOutcome::Record)
        );
        assert!(out.is_empty());
    }
}

#[test]
fn every_real_file_parses_without_a_refused_line() {
    // (file, records, measurements)
    let cases = [
        ("elastic-beats/accept-reject-traffic.log", 4, 5),
        ("elastic-beats/custom-nat-gateway.log", 2, 0),
        ("elastic-beats/ipv6.log", 1, 2),
        ("elastic-beats/no-data-skip-data.log", 2, 0),
        ("elastic-beats/tcp-flag-sequence-skip-data.log", 2, 0),
        ("elastic-beats/tcp-flag-sequence.log", 1, 2),
        ("elastic-integrations/test-ecs-samples.log", 10, 6),
        ("elastic-integrations/test-extra-samples.log", 7, 7),
        ("elastic-integrations/test-tcp-flag-sequence.log", 3, 2),
        ("elastic-integrations/test-tgw-samples.log", 10, 6),
        ("elastic-integrations/test-v5-all-fields.log", 1, 1),
        ("elastic-integrations/test-v8-samples.log", 1, 0),
        ("elastic-integrations/test-with-message-field.log", 1, 0),
    ];
    for (file, records, measurements) in cases {
        let (out, report) = events(&mut VpcFlowParser::new(), &read(file));
        assert_eq!(report.error_count, 0, "{file}: {:?}", report.errors);
        assert_eq!(
            (report.records, out.len()),
            (records, measurements),
            "{file}"
        );
    }
}

#[test]
fn the_real_defects_are_handled() {
    // Filebeat's bad.log: one refused line, with the reason.
    let (_, report) = events(&mut VpcFlowParser::new(), &read("elastic-beats/bad.log"));
    assert_eq!(report.error_count, 1);
    assert!(
        report.errors[0].reason.contains("header"),
        "{}",
        report.errors[0].reason
    );

    // A 9-digit `start` (1975): the record is placed at its `end`.
    let (out, _) = events(
        &mut VpcFlowParser::new(),
        &read("elastic-integrations/test-v5-all-fields.log"),
    );
    assert_eq!(out[0].ts, ts(1_640_000_297));
    assert_eq!(
        (out[0].entity.as_str(), out[0].errors),
        ("eni-069xxxxxb7a490", 1)
    );

    // ECS: `ACCEPT NODATA` with bytes is no traffic; no interface, so the address pair.
    let (out, _) = events(
        &mut VpcFlowParser::new(),
        &read("elastic-integrations/test-ecs-samples.log"),
    );
    assert_eq!(out[0].entity, "1.128.0.0>2a02:cf40::");
    assert_eq!(out.iter().filter(|e| e.layer == OsiLayer::L3).count(), 4);

    // Transit gateway: per attachment, no action field.
    let (out, _) = events(
        &mut VpcFlowParser::new(),
        &read("elastic-integrations/test-tgw-samples.log"),
    );
    assert_eq!(
        (out[0].entity.as_str(), out[0].bytes),
        ("tgw-attach-0123abcd", 6842)
    );
    assert_eq!(out[1].entity, "tgw-attach-0123abcd:8080/udp");

    // A custom order without a header is refused, and read once its format is configured.
    let file = read("elastic-beats/custom-transit-gateway.log");
    let (_, report) = events(&mut VpcFlowParser::new(), &file);
    assert!(
        report.errors[0].reason.contains("17 fields and no header"),
        "{:?}",
        report.errors
    );
    let format = "version interface_id account_id vpc_id subnet_id instance_id srcaddr dstaddr \
                  srcport dstport protocol tcp_flags type pkt_srcaddr pkt_dstaddr action log_status";
    let mut parser = VpcFlowParser::with_format(format).expect("format");
    let (out, report) = events(&mut parser, &file);
    assert_eq!((report.records, report.error_count), (1, 0));
    assert!(
        out.is_empty(),
        "this format has no start or end: nothing to place in time"
    );
}

#[test]
fn values_match_elastics_expected_output() {
    let expected: serde_json::Value = serde_json::from_slice(&read(
        "elastic-integrations/test-tcp-flag-sequence.log-expected.json",
    ))
    .expect("json");
    let header = "version vpc-id subnet-id instance-id interface-id account-id type srcaddr \
        dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end \
        action tcp-flags log-status";
    let docs = expected["expected"].as_array().expect("array");
    assert_eq!(docs.len(), 3);
    for doc in docs {
        let original = doc["event"]["original"].as_str().expect("original");
        let mut out = Vec::new();
        let mut parser = VpcFlowParser::new();
        assert_eq!(
            parser.line(header.as_bytes(), &mut out),
            Ok(LineOutcome::Skipped)
        );
        assert_eq!(
            parser.line(original.as_bytes(), &mut out),
            Ok(LineOutcome::Record)
        );
        if doc["network"].is_null() {
            assert!(out.is_empty(), "{original}");
            continue;
        }
        let start: chrono::DateTime<chrono::Utc> = doc["event"]["start"]
            .as_str()
            .expect("start")
            .parse()
            .expect("time");
        let l3 = &out[0];
        assert_eq!(l3.ts, start);
        assert_eq!(l3.bytes, doc["network"]["bytes"].as_u64().expect("bytes"));
        assert_eq!(
            l3.packets,
            doc["network"]["packets"].as_u64().expect("packets")
        );
        assert_eq!(
            l3.entity,
            doc["aws"]["vpcflow"]["interface_id"].as_str().expect("eni")
        );
        let port = doc["destination"]["port"].as_u64().expect("port");
        assert_eq!(out[1].entity, format!("eni-1235b8ca123456789:{port}/tcp"));
        assert_eq!(
            (out[1].connections, out[1].errors),
            (1, 0),
            "a SYN with payload is a healthy opening"
        );
    }
}

#[test]
fn vector_cases_parse_and_match_where_expected() {
    let text = String::from_utf8(read("vrl/parse_aws_vpc_flow_log.cases.jsonl")).expect("utf-8");
    let mut n = 0;
    for case in text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("case"))
    {
        let input = case["input"].as_str().expect("input");
        let mut parser = match case["format"].as_str() {
            Some(f) => VpcFlowParser::with_format(f).expect("format"),
            None => VpcFlowParser::new(),
        };
        let mut out = Vec::new();
        assert_eq!(
            parser.line(input.as_bytes(), &mut out),
            Ok(LineOutcome::Record),
            "{input}"
        );
        let want = &case["expected"];
        if want.is_object() {
            assert_eq!(out[0].bytes, want["bytes"].as_u64().expect("bytes"));
            assert_eq!(out[0].packets, want["packets"].as_u64().expect("packets"));
            assert_eq!(
                out[0].ts.timestamp(),
                want["start"].as_i64().expect("start")
            );
            assert_eq!(out[0].entity, want["interface_id"].as_str().expect("eni"));
        }
        n += 1;
    }
    assert_eq!(n, 32);

    // The documentation examples: the line and the format are the quoted strings of `source`.
    let docs: serde_json::Value =
        serde_json::from_slice(&read("vrl/docs-generated-parse_aws_vpc_flow_log.json"))
            .expect("json");
    let mut entities = Vec::new();
    for example in docs["examples"].as_array().expect("examples") {
        let source = example["source"].as_str().expect("source");
        let quoted: Vec<&str> = source.split('"').skip(1).step_by(2).collect();
        let mut parser = match quoted.get(1) {
            Some(f) => VpcFlowParser::with_format(f).expect("format"),
            None => VpcFlowParser::new(),
        };
        let mut out = Vec::new();
        assert_eq!(
            parser.line(quoted[0].as_bytes(), &mut out),
            Ok(LineOutcome::Record),
            "{source}"
        );
        let ret = &example["return"];
        if let Some(e) = out.first() {
            assert_eq!(e.bytes, ret["bytes"].as_u64().unwrap_or(0));
            assert_eq!(e.ts.timestamp(), ret["start"].as_i64().expect("start"));
            entities.push(e.entity.clone());
        }
    }
    // v11 has no interface: the NAT gateway's resource id names it.
    assert_eq!(entities, ["eni-1235b8ca123456789", "nat-0c50d5961bcb2d47b"]);
}

#[test]
fn a_header_mid_file_switches_the_fields() {
    let input = "version interface-id srcaddr dstaddr bytes packets start\n\
                 2 eni-a 10.0.0.1 10.0.0.2 100 1 1700000000\n\
                 interface-id start bytes\n\
                 eni-b 1700000060 7\n\
                 eni-c 1700000060 7 extra\n";
    let (out, report) = events(&mut VpcFlowParser::new(), input.as_bytes());
    assert_eq!(
        (report.records, report.skipped, report.error_count),
        (2, 2, 1)
    );
    assert_eq!(report.errors[0].line, 5);
    assert_eq!(report.errors[0].reason, "4 fields, but the format names 3");
    assert_eq!(
        out.iter()
            .map(|e| (e.entity.as_str(), e.bytes))
            .collect::<Vec<_>>(),
        [("eni-a", 100), ("eni-b", 7)]
    );
}

#[test]
fn a_wrapped_record_is_read_from_its_message() {
    let line = r#"{"timestamp":1,"message":"2 1 eni-9 10.0.0.1 10.0.0.2 443 50000 6 3 300 1700000000 1700000060 ACCEPT OK"}"#;
    let mut out = Vec::new();
    assert_eq!(
        VpcFlowParser::new().line(line.as_bytes(), &mut out),
        Ok(LineOutcome::Record)
    );
    assert_eq!(out[1].entity, "eni-9:443/tcp");
    assert_eq!(
        out[1].connections, 0,
        "from the service port: the server's direction"
    );
}

#[test]
fn split_finds_every_space_and_nothing_else() {
    let slots: Vec<Option<Key>> = Key::ALL.iter().copied().map(Some).collect();
    // Bytes next to a space in value or bit pattern, to catch a carry or a false match.
    let alphabet = [b' ', b' ', 0xa0, b'!', 0x00, 0x1f, b'`', 0xff, 0x7f, b'0'];
    let mut seed = 0x1234_5678_9abc_def1_u64;
    for _ in 0..5_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 41) as usize;
        let line: Vec<u8> = (0..len)
            .map(|i| alphabet[((seed >> (i % 60)) as usize + i) % alphabet.len()])
            .collect();
        let mut vals: Values<'_> = [ABSENT; KEYS];
        let n = split(&slots, &line, &mut vals);
        let want: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
        assert_eq!(n, want.len(), "{line:?}");
        for (i, field) in want.iter().enumerate().take(KEYS) {
            assert_eq!(vals[Key::ALL[i] as usize], *field, "{line:?}");
        }
    }
}

#[test]
fn tcp_flags_tell_openings_resets_and_failed_handshakes() {
    let v4 = BARE_SYN_BYTES_V4;
    // Elastic's fixture: client SYN with payload, then the server's SYN-ACK.
    assert_eq!(
        transport(Some(2), 43416, 5001, 568, 8, v4),
        TransportView {
            service_port: 5001,
            opens: true,
            error: None
        }
    );
    assert_eq!(
        transport(Some(18), 5001, 43416, 376, 7, v4),
        TransportView {
            service_port: 5001,
            opens: false,
            error: None
        }
    );
    // Three retried SYNs of 60 bytes and no answer.
    assert_eq!(
        transport(Some(2), 40000, 443, 180, 3, v4).error,
        Some(ErrorClass::FailedHandshake)
    );
    assert_eq!(
        transport(Some(2), 40000, 443, 240, 3, BARE_SYN_BYTES_V6).error,
        Some(ErrorClass::FailedHandshake)
    );
    assert_eq!(transport(Some(19), 5001, 43416, 632, 12, v4).error, None);
    assert_eq!(
        transport(Some(4), 5001, 43416, 40, 1, v4).error,
        Some(ErrorClass::ConnectionReset)
    );
    assert_eq!(
        transport(Some(0), 5001, 43416, 4000, 10, v4),
        TransportView {
            service_port: 5001,
            opens: false,
            error: None
        }
    );
    assert_eq!(
        transport(None, 53, 40000, 100, 1, v4),
        TransportView {
            service_port: 53,
            opens: false,
            error: None
        }
    );
}

#[test]
fn malformed_lines_are_refused_with_a_reason() {
    let cases = [
        ("2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1700000000 1700000060 ACCEPT", "13 fields"),
        ("2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 x 1 1700000000 1700000060 ACCEPT OK", "packets `x` is not a number"),
        ("2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 99999999999999999999999 1700000000 1700000060 ACCEPT OK", "bytes"),
        ("2 1 eni-1 10.0.0.1 10.0.0.2 70000 2 6 1 1 1700000000 1700000060 ACCEPT OK", "srcport 70000"),
        ("2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1700000000 1700000060 ALLOW OK", "action `ALLOW`"),
        ("2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1700000000 1700000060 ACCEPT FINE", "log-status `FINE`"),
        ("2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 12 13 ACCEPT OK", "no plausible time"),
        ("2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 -1 1700000060 ACCEPT OK", "start `-1`"),
        ("2 1 - - - 1 2 6 1 1 1700000000 1700000060 ACCEPT OK", "no interface"),
        ("2  1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1700000000 1700000060 ACCEPT OK", "15 fields"),
        ("{\"msg\":\"2 1\"}", "`message`"),
        ("{\"message\":{}}", "`message`"),
        ("{\"message\":\"{}\"}", "holds JSON"),
        ("{not json", "JSON"),
    ];
    for (line, reason) in cases {
        let mut out = Vec::new();
        let got = VpcFlowParser::new()
            .line(line.as_bytes(), &mut out)
            .expect_err(line);
        assert!(got.contains(reason), "{line}: {got}");
        assert!(out.is_empty(), "{line}: a refused line measures nothing");
    }
    let mut bad_utf8 =
        b"2 1 eni-\xff 10.0.0.1 10.0.0.2 1 2 6 1 1 1700000000 1700000060 ACCEPT OK".to_vec();
    assert!(VpcFlowParser::new()
        .line(&bad_utf8, &mut Vec::new())
        .expect_err("utf-8")
        .contains("UTF-8"));
    bad_utf8.truncate(4);
    assert!(VpcFlowParser::new()
        .line(&bad_utf8, &mut Vec::new())
        .is_err());

    // A refused header refuses the records under it, until the next good header.
    let input =
        "version bytes bytes\n2 5\nversion bytes start interface-id\n2 5 1700000000 eni-1\n";
    let (out, report) = events(&mut VpcFlowParser::new(), input.as_bytes());
    assert_eq!(
        report.errors.iter().map(|e| e.line).collect::<Vec<_>>(),
        [1, 2]
    );
    assert!(
        report.errors[0].reason.contains("`bytes` is named twice"),
        "{:?}",
        report.errors
    );
    assert_eq!(out.len(), 1);
    assert!(VpcFlowParser::with_format("version ${bytes} Bytes").is_err());
    assert!(VpcFlowParser::with_format("${version} ${bytes}").is_ok());
}

#[test]
fn mangled_real_lines_never_panic() {
    let mut lines: Vec<Vec<u8>> = Vec::new();
    for file in [
        "elastic-integrations/test-extra-samples.log",
        "elastic-integrations/test-tcp-flag-sequence.log",
        "elastic-integrations/test-tgw-samples.log",
        "elastic-integrations/test-with-message-field.log",
        "elastic-integrations/test-ecs-samples.log",
    ] {
        lines.extend(read(file).split(|&b| b == b'\n').map(<[u8]>::to_vec));
    }
    let mut mangler = super::super::Mangler::new(
        0x9E37_79B9_7F4A_7C15,
        b" -{}\"\\:0123456789abcxyzOKREJECT\xff\xc3\n",
    );
    let mut parser = VpcFlowParser::new();
    for round in 0..20_000 {
        let line = mangler.mangle(&lines);
        if round % 997 == 0 {
            parser = VpcFlowParser::new();
        }
        let _ = parser.line(&line, &mut Vec::new());
    }
}

/// Counts what goes by, as the windows and the benchmark do.
#[derive(Default)]
struct Totals {
    l3: u64,
    l4: u64,
    bytes: u64,
    connections: u64,
    rejected: u64,
}

impl Sink for Totals {
    fn measurement(&mut self, m: &Measurement<'_>) {
        match m.layer {
            OsiLayer::L3 => {
                self.l3 += 1;
                self.bytes += m.bytes;
                self.rejected += m.errors;
            }
            _ => {
                self.l4 += 1;
                self.connections += m.connections;
            }
        }
    }
}

#[test]
fn a_generated_100k_line_object_is_counted_exactly() {
    const LINES: u64 = 100_000;
    let mut text = String::with_capacity(12 * 1024 * 1024);
    text.push_str(V2);
    text.push('\n');
    let mut expect = Totals::default();
    let mut nodata = 0;
    for i in 0..LINES {
        let eni = i % 500;
        let start = 1_764_064_800 + i / 100;
        if i % 50 == 0 {
            text.push_str(&format!(
                "2 123456789012 eni-{eni:017x} - - - - - - - {start} {} - NODATA\n",
                start + 60
            ));
            nodata += 1;
            continue;
        }
        let action = if i % 7 == 0 { "REJECT" } else { "ACCEPT" };
        let (proto, sport, dport) = if i % 3 == 0 {
            (17, 53, 40_000 + i % 20_000)
        } else {
            (6, 32_768 + i % 28_000, 443)
        };
        let bytes = 40 + i % 1460;
        text.push_str(&format!(
            "2 123456789012 eni-{eni:017x} 10.0.{}.{} 172.31.{}.{} {sport} {dport} {proto} {} {bytes} {start} {} {action} OK\n",
            i % 256, (i / 256) % 256, (i / 7) % 256, i % 200, 1 + i % 9, start + 60
        ));
        expect.l3 += 1;
        expect.bytes += bytes;
        if action == "REJECT" {
            expect.rejected += 1;
        } else {
            expect.l4 += 1;
            expect.connections += u64::from(dport <= sport);
        }
    }
    let mut got = Totals::default();
    let report = parse_object(&mut VpcFlowParser::new(), text.as_bytes(), &mut got);
    assert_eq!(
        (report.records, report.skipped, report.error_count),
        (LINES, 1, 0)
    );
    assert_eq!(nodata, LINES / 50);
    assert_eq!(
        (got.l3, got.l4, got.bytes, got.connections, got.rejected),
        (
            expect.l3,
            expect.l4,
            expect.bytes,
            expect.connections,
            expect.rejected
        )
    );
}

fn head(path: &str) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    bytes[..bytes.len().min(64 * 1024)]
        .split(|&b| b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .take(20)
        .map(<[u8]>::to_vec)
        .collect()
}

fn sniffs(path: &str) -> bool {
    let lines = head(path);
    let refs: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
    sniff(&refs)
}

#[test]
fn sniff_knows_flow_logs_and_nothing_else() {
    for file in [
        "elastic-beats/accept-reject-traffic.log",
        "elastic-beats/custom-nat-gateway.log",
        "elastic-beats/ipv6.log",
        "elastic-beats/no-data-skip-data.log",
        "elastic-beats/tcp-flag-sequence-skip-data.log",
        "elastic-integrations/test-ecs-samples.log",
        "elastic-integrations/test-extra-samples.log",
        "elastic-integrations/test-tcp-flag-sequence.log",
        "elastic-integrations/test-tgw-samples.log",
        "elastic-integrations/test-v5-all-fields.log",
        "elastic-integrations/test-v8-samples.log",
        "elastic-integrations/test-with-message-field.log",
    ] {
        assert!(sniffs(&format!("{DATA}/{file}")), "{file}");
    }
    // Not recognisable: garbage, and a custom order without its header.
    assert!(!sniffs(&format!("{DATA}/elastic-beats/bad.log")));
    assert!(!sniffs(&format!(
        "{DATA}/elastic-beats/custom-transit-gateway.log"
    )));
    assert!(!sniff(&[]));

    let shared = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata");
    let mut others = vec![
        format!("{shared}/aws/alb/elastic-integrations/test-alb.log"),
        format!("{shared}/aws/alb/elastic-beats/application-lb-http.log"),
        format!("{shared}/aws/alb/classic-elb-elastic-beats/elb-http.log"),
        format!("{shared}/aws/nlb/elastic-beats/example-nlb-tcp.log"),
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/counters/wrap-and-reset.jsonl"
        )
        .to_owned(),
    ];
    for dir in ["zeek/wrccdc-2018/tsv", "zeek/wrccdc-2018/json"] {
        for entry in std::fs::read_dir(format!("{shared}/{dir}")).expect("zeek dir") {
            others.push(entry.expect("entry").path().display().to_string());
        }
    }
    for path in others {
        assert!(!sniffs(&path), "{path}");
    }
    assert!(!sniff(&[br#"{"ts":1,"layer":"L3","entity":"a"}"#]));
}
