use super::super::{parse_object, ObjectReport};
use super::json::JsonTs;
use super::tsv::epoch_ms;
use super::*;
use layercast_shared::Event;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/zeek/");

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(format!("{DATA}{rel}")).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn parse(bytes: &[u8]) -> (ObjectReport, Vec<Event>) {
    let mut events = Vec::new();
    let report = parse_object(&mut ZeekParser::new(), bytes, &mut events);
    (report, events)
}

fn data_lines(bytes: &[u8]) -> u64 {
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty() && l[0] != b'#')
        .count() as u64
}

fn of(events: &[Event], layer: OsiLayer) -> impl Iterator<Item = &Event> {
    events.iter().filter(move |e| e.layer == layer)
}

fn errors(events: &[Event], class: ErrorClass) -> u64 {
    events
        .iter()
        .filter(|e| e.error_class == Some(class))
        .map(|e| e.errors)
        .sum()
}

#[test]
fn every_real_zeek_file_parses_and_unmeasured_kinds_are_skipped() {
    let mut files = Vec::new();
    for dir in [
        "wrccdc-2018/tsv",
        "wrccdc-2018/json",
        "stratosphere/008-ctu-normal-40-day1",
        "stratosphere/002-portscan-json",
        "stratosphere/007-honeypot-json",
    ] {
        for entry in std::fs::read_dir(format!("{DATA}{dir}")).expect("data dir") {
            let name = entry
                .expect("entry")
                .file_name()
                .into_string()
                .expect("utf-8");
            if name.ends_with(".log") || name.ends_with(".json") || name.ends_with(".labeled") {
                files.push(format!("{dir}/{name}"));
            }
        }
    }
    assert!(files.len() > 60, "{files:?}");
    for file in files {
        let bytes = read(&file);
        let (report, events) = parse(&bytes);
        assert_eq!(report.error_count, 0, "{file}: {:?}", report.errors);
        let stem = file
            .rsplit('/')
            .next()
            .and_then(|n| n.split('.').next())
            .expect("name");
        let measured = ["conn", "http", "dns", "ssl", "weird"].contains(&stem);
        let data = data_lines(&bytes);
        assert_eq!(report.records, if measured { data } else { 0 }, "{file}");
        assert_eq!(report.records > 0, !events.is_empty(), "{file}");
    }
}

#[test]
fn conn_records_measure_l3_pairs_and_l4_services() {
    let (report, ev) = parse(&read(
        "stratosphere/008-ctu-normal-40-day1/conn.log.labeled",
    ));
    assert_eq!(report.records, 5663);
    assert_eq!(
        of(&ev, OsiLayer::L3).map(|e| e.bytes).sum::<u64>(),
        17_020_653
    );
    assert_eq!(
        of(&ev, OsiLayer::L3).map(|e| e.packets).sum::<u64>(),
        56_463
    );
    assert_eq!(
        of(&ev, OsiLayer::L4).map(|e| e.bytes).sum::<u64>(),
        15_054_406
    );
    assert_eq!(
        of(&ev, OsiLayer::L4).map(|e| e.connections).sum::<u64>(),
        5663
    );
    assert_eq!(errors(&ev, ErrorClass::FailedHandshake), 4169);
    assert_eq!(errors(&ev, ErrorClass::ConnectionReset), 133);
    assert_eq!(
        (ev[0].entity.as_str(), ev[1].entity.as_str()),
        ("147.32.81.167>40.74.108.123", "40.74.108.123:443/tcp")
    );
    assert_eq!(ev[0].ts.timestamp_millis(), 1_655_071_198_444);
    assert!(
        ev.iter().all(|e| e.latency_ms.is_none()),
        "durations are not latencies"
    );
    assert!(of(&ev, OsiLayer::L4).any(|e| e.entity.ends_with("/icmp") && !e.entity.contains(':')));

    // Stock JSON without `_path`: UDP answers without their question (SHR) are no failure.
    let (report, ev) = parse(&read("stratosphere/002-portscan-json/conn.log"));
    assert_eq!((report.records, report.error_count), (1500, 0));
    assert_eq!(errors(&ev, ErrorClass::FailedHandshake), 805 + 248 + 51);
    assert_eq!(errors(&ev, ErrorClass::ConnectionReset), 43);
    assert!(ev
        .iter()
        .any(|e| e.entity == "8.8.8.8:53/udp" && e.errors == 0));
}

#[test]
fn http_dns_ssl_and_weird_records_measure_their_layers() {
    let (_, ev) = parse(&read(
        "stratosphere/008-ctu-normal-40-day1/http.log.labeled",
    ));
    assert_eq!(of(&ev, OsiLayer::L7).map(|e| e.requests).sum::<u64>(), 342);
    assert_eq!(
        (
            errors(&ev, ErrorClass::ClientError),
            errors(&ev, ErrorClass::ServerError)
        ),
        (124, 0)
    );
    assert_eq!(
        (ev[0].entity.as_str(), ev[0].bytes),
        ("i4.c.eset.com", 277 + 697)
    );

    let (_, ev) = parse(&read("stratosphere/007-honeypot-json/http.log"));
    assert_eq!(
        (
            ev.len(),
            errors(&ev, ErrorClass::ServerError),
            errors(&ev, ErrorClass::ClientError)
        ),
        (300, 6, 1)
    );

    let (_, ev) = parse(&read("wrccdc-2018/tsv/dns.log"));
    assert_eq!(ev.len(), 1965);
    assert_eq!(
        (
            errors(&ev, ErrorClass::DnsNxdomain),
            errors(&ev, ErrorClass::DnsServfail)
        ),
        (68, 0)
    );
    assert_eq!(ev.iter().filter(|e| e.latency_ms.is_some()).count(), 1440);
    assert_eq!(ev[0].entity, "10.0.0.100:53");
    assert!((ev[0].latency_ms.expect("rtt") - 0.87).abs() < 1e-9);

    let (_, ev) = parse(&read("stratosphere/008-ctu-normal-40-day1/ssl.log.labeled"));
    assert_eq!(
        of(&ev, OsiLayer::L6).map(|e| e.connections).sum::<u64>(),
        545
    );
    assert_eq!(errors(&ev, ErrorClass::TlsFailure), 370);
    assert_eq!(of(&ev, OsiLayer::L5).count(), 77);
    assert_eq!(ev[0].entity, "settings-win.data.microsoft.com");

    let (_, ev) = parse(&read("wrccdc-2018/tsv/weird.log"));
    assert_eq!(
        (ev.len() as u64, errors(&ev, ErrorClass::ProtocolAnomaly)),
        (199, 199)
    );
    assert_eq!(
        (ev[0].layer, ev[0].entity.as_str()),
        (OsiLayer::L4, "23.217.103.245")
    );
}

/// The WRCCDC JSON files hold the first records of the TSV files: both writers must agree.
#[test]
fn tsv_and_json_writers_give_the_same_measurements() {
    for kind in ["dns", "ssl", "weird"] {
        let (_, tsv) = parse(&read(&format!("wrccdc-2018/tsv/{kind}.log")));
        let (report, json) = parse(&read(&format!("wrccdc-2018/json/{kind}.json")));
        assert_eq!(report.error_count, 0);
        assert!(json.len() >= 199, "{kind}");
        for (j, t) in json.iter().zip(&tsv) {
            let latency = |e: &Event| e.latency_ms.map(|l| (l * 1000.0).round());
            assert_eq!(
                (j.ts, j.layer, &j.entity, j.errors, j.error_class),
                (t.ts, t.layer, &t.entity, t.errors, t.error_class),
                "{kind}"
            );
            assert_eq!(
                (j.connections, j.requests, latency(j)),
                (t.connections, t.requests, latency(t)),
                "{kind}"
            );
        }
    }
}

#[test]
fn a_header_that_lies_refuses_each_record_with_a_reason() {
    let log = b"#separator \\x09\n#path\tdns\n#fields\tts\tid.resp_h\tid.resp_p\trcode_name\n#types\ttime\taddr\tport\n\
        1521911720.865716\t10.0.0.1\t53\tNOERROR\n1521911720.9\t10.0.0.1\t53\n1521911721\t10.0.0.1\t53\tSERVFAIL\textra\n#close\t2024\n";
    let (report, ev) = parse(log);
    assert_eq!((report.records, report.error_count, ev.len()), (1, 3, 1));
    let reasons: Vec<_> = report
        .errors
        .iter()
        .map(|e| (e.line, e.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            (4, "#types names 3 types for 4 fields"),
            (6, "3 fields where #fields names 4"),
            (7, "5 fields where #fields names 4")
        ]
    );
}

#[test]
fn malformed_records_are_refused_and_never_panic() {
    let cases: [(&[u8], &str); 9] = [
        (b"{\"_path\":\"conn\",\"ts\":1.5,\"id.orig_h\":\"a\",\"id.resp_h\":\"b\",\"proto\":\"tcp\"}", "without id.resp_p"),
        (b"1521911720.8\t10.0.0.1\t53", "before any #fields"),
        (b"{\"_path\":\"dns\",\"ts\":", "not a Zeek JSON record"),
        (b"{\"_path\":\"dns\",\"ts\":\"yesterday\",\"id.resp_h\":\"1.1.1.1\",\"id.resp_p\":53}", "not an ISO 8601 time"),
        (b"{\"_path\":\"dns\",\"ts\":1.5,\"id.resp_h\":\"1.1.1.1\",\"id.resp_p\":\"53\"}", "invalid type"),
        (b"{\"_path\":\"dns\",\"ts\":1.5,\"id.resp_h\":\"1.1.1.1\",\"id.resp_p\":70000}", "port 70000"),
        (b"{\"_path\":\"conn\",\"ts\":1.5,\"id.resp_h\":\"1.1.1.1\",\"id.resp_p\":53}", "without id.orig_h"),
        (b"{\"_path\":\"ssl\",\"id.resp_h\":\"1.1.1.1\",\"id.resp_p\":443}", "without ts"),
        (b"{\"conn_state\":\"S0\",\"ts\":1e300,\"id.orig_h\":\"a\",\"id.resp_h\":\"b\",\"id.resp_p\":1,\"proto\":\"tcp\"}", "out of range"),
    ];
    for (line, reason) in cases {
        let mut sink = Vec::new();
        let err = ZeekParser::new()
            .line(line, &mut sink)
            .expect_err("refused");
        assert!(err.contains(reason), "{err} (wanted {reason})");
        assert!(
            sink.is_empty(),
            "a refused record measures nothing: {sink:?}"
        );
    }
    let conn = b"#separator \\x09\n#path\tconn\n#fields\tts\tid.orig_h\tid.resp_h\tid.resp_p\tproto\tconn_state\n";
    for (row, reason) in [
        ("x\ta\tb\t1\ttcp\tS0", "ts `x`"),
        ("1\ta\tb\t99999\ttcp\tS0", "port 99999"),
        ("1\ta\tb\t1\ttcp\t-", ""),
    ] {
        let (report, _) = parse(&[&conn[..], row.as_bytes()].concat());
        assert_eq!(
            (report.records, report.error_count),
            (u64::from(reason.is_empty()), u64::from(!reason.is_empty())),
            "{row}"
        );
        assert!(report.errors.iter().all(|e| e.reason.contains(reason)));
    }

    // Other kinds are skipped, with `_path` or guessed (SIP has trans_depth but is not HTTP).
    for other in [
        &b"{\"_path\":\"x509\",\"ts\":\"bad\"}"[..],
        b"{\"ts\":1.0,\"trans_depth\":0,\"method\":\"INVITE\",\"request_path\":[]}",
        b"{\"ts\":1.0,\"note\":\"X\"}",
    ] {
        assert_eq!(
            ZeekParser::new().line(other, &mut Vec::new()),
            Ok(LineOutcome::Skipped)
        );
    }

    // Every prefix and a flipped byte everywhere in real records: Ok or Err, no panic.
    let mut p = ZeekParser::new();
    let tsv = read("stratosphere/008-ctu-normal-40-day1/ssl.log.labeled");
    let json = read("wrccdc-2018/json/dns.json");
    for line in tsv
        .split(|&b| b == b'\n')
        .take(12)
        .chain(json.split(|&b| b == b'\n').take(3))
    {
        for cut in 0..line.len() {
            let _ = p.line(&line[..cut], &mut Vec::new());
            let mut bent = line.to_vec();
            bent[cut] = [b'\t', b'"', b'-', 0xff][cut % 4];
            let _ = p.line(&bent, &mut Vec::new());
        }
    }
}

/// Every real log with its name removed (`_path`, `#path`) is guessed as the kind it is.
#[test]
fn kinds_are_guessed_right_without_their_name() {
    let dir = |d: &str| {
        std::fs::read_dir(format!("{DATA}{d}"))
            .expect("dir")
            .map(|e| format!("{d}/{}", e.expect("entry").file_name().to_string_lossy()))
            .collect::<Vec<_>>()
    };
    let measured = |path: &str| ["conn", "http", "dns", "ssl", "weird"].contains(&path);
    for file in dir("wrccdc-2018/json") {
        let bytes = read(&file);
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let v: serde_json::Value = serde_json::from_slice(line).expect("json");
            let path = v["_path"].as_str().expect("_path").to_owned();
            let mut v = v;
            v.as_object_mut().expect("object").remove("_path");
            let nameless = serde_json::to_vec(&v).expect("json");
            let got = ZeekParser::new().line(&nameless, &mut Vec::new());
            let want = if measured(&path) {
                LineOutcome::Record
            } else {
                LineOutcome::Skipped
            };
            assert_eq!(got, Ok(want), "{file}");
        }
    }
    for file in dir("wrccdc-2018/tsv")
        .into_iter()
        .chain(dir("stratosphere/008-ctu-normal-40-day1"))
    {
        let bytes = read(&file);
        let Some(path) = bytes
            .split(|&b| b == b'\n')
            .find_map(|l| l.strip_prefix(b"#path\t"))
        else {
            continue;
        };
        let path = String::from_utf8_lossy(path).into_owned();
        let nameless: Vec<u8> = bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.starts_with(b"#path"))
            .collect::<Vec<_>>()
            .join(&b'\n');
        let (report, _) = parse(&nameless);
        assert_eq!(report.error_count, 0, "{file}");
        assert_eq!(
            report.records,
            if measured(&path) {
                data_lines(&bytes)
            } else {
                0
            },
            "{file}"
        );
    }
}

#[test]
fn entities_are_what_a_planner_recognises() {
    let mut ev = Vec::new();
    let mut p = ZeekParser::new();
    let lines: [&[u8]; 3] = [
        b"{\"ts\":1.0,\"id.orig_h\":\"2001:db8::1\",\"id.resp_h\":\"2001:db8::2\",\"id.resp_p\":443,\"proto\":\"tcp\",\"conn_state\":\"RSTO\"}",
        b"{\"ts\":1.0,\"id.resp_h\":\"10.0.0.9\",\"id.resp_p\":8080,\"trans_depth\":1,\"request_body_len\":0,\"host\":\"WWW.Example.COM\",\"status_code\":503}",
        b"{\"ts\":1.0,\"id.resp_h\":\"10.0.0.9\",\"id.resp_p\":8080,\"trans_depth\":1,\"response_body_len\":0,\"host\":\"bad host\",\"status_code\":200}",
    ];
    for line in lines {
        assert_eq!(p.line(line, &mut ev), Ok(LineOutcome::Record));
    }
    let got: Vec<_> = ev
        .iter()
        .map(|e| (e.layer, e.entity.as_str(), e.error_class))
        .collect();
    assert_eq!(
        got,
        [
            (OsiLayer::L3, "2001:db8::1>2001:db8::2", None),
            (
                OsiLayer::L4,
                "[2001:db8::2]:443/tcp",
                Some(ErrorClass::ConnectionReset)
            ),
            (
                OsiLayer::L7,
                "www.example.com",
                Some(ErrorClass::ServerError)
            ),
            (OsiLayer::L7, "10.0.0.9:8080", None),
        ]
    );
}

#[test]
fn sniffing_recognises_both_writers_on_real_files() {
    let first = |path: String| {
        let bytes = std::fs::read(&path).expect("file");
        let lines: Vec<Vec<u8>> = bytes
            .split(|&b| b == b'\n')
            .take(5)
            .map(<[u8]>::to_vec)
            .collect();
        sniff(&lines.iter().map(Vec::as_slice).collect::<Vec<_>>())
    };
    for yes in [
        "wrccdc-2018/tsv/dns.log",
        "wrccdc-2018/json/loaded_scripts.json",
        "stratosphere/002-portscan-json/conn.log",
        "stratosphere/008-ctu-normal-40-day1/conn.log.labeled",
    ] {
        assert!(first(format!("{DATA}{yes}")), "{yes}");
    }
    for no in [
        "../aws/alb/elastic-integrations/test-alb.log",
        "../aws/nlb/elastic-beats/example-nlb-tcp.log",
        "../aws/vpcflow/elastic-beats/ipv6.log",
    ] {
        assert!(!first(format!("{DATA}{no}")), "{no}");
    }
    assert!(!sniff(&[
        b"{\"ts\":1000,\"layer\":\"L3\",\"entity\":\"a\"}"
    ]));
}

#[test]
fn epoch_seconds_become_milliseconds_without_rounding_up() {
    assert_eq!(epoch_ms(b"1521911720.865716"), Some(1_521_911_720_865));
    assert_eq!(epoch_ms(b"1521911720.8"), Some(1_521_911_720_800));
    assert_eq!(epoch_ms(b"1521911720"), Some(1_521_911_720_000));
    assert_eq!(epoch_ms(b"15219x"), None);
    assert_eq!(epoch_ms(b"1.2.3"), None);
    let ts: JsonTs = serde_json::from_str("1664462456.001").expect("ts");
    assert_eq!(ts.0, 1_664_462_456_001);
}
