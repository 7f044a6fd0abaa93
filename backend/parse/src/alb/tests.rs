use super::*;
use layercast_shared::Event;
use serde_json::Value;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/");

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(format!("{DATA}{rel}")).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect()
}

fn events(line: &[u8]) -> Result<Vec<Event>, String> {
    let mut out = Vec::new();
    AlbParser::new().line(line, &mut out)?;
    Ok(out)
}

fn layer(events: &[Event], layer: OsiLayer) -> Option<&Event> {
    events.iter().find(|e| e.layer == layer)
}

fn fields(line: &[u8]) -> Vec<String> {
    let mut f: [&[u8]; MAX_FIELDS] = [&[]; MAX_FIELDS];
    let n = split_quoted(line, &mut f).expect("tokenizes");
    f[..n.min(MAX_FIELDS)]
        .iter()
        .map(|x| String::from_utf8_lossy(x).trim().to_owned())
        .collect()
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() < 1e-6,
        (a, b) => a == b,
    }
}

fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .expect("rfc3339")
        .timestamp_millis()
}

#[test]
fn iso8601_agrees_with_chrono_and_refuses_nonsense() {
    for s in [
        "2018-07-02T22:23:00.186641Z",
        "2024-02-29T00:00:00Z",
        "1999-12-31T23:59:59.9+01:30",
        "2020-01-01T00:00:00.000-05:00",
    ] {
        assert_eq!(iso8601_ms(s.as_bytes()), Some(ms(s)), "{s}");
    }
    assert_eq!(
        iso8601_ms(b"2018-12-20T02:59:40"),
        Some(ms("2018-12-20T02:59:40Z"))
    );
    for bad in [
        "2023-02-29T00:00:00Z",
        "2018-13-01T00:00:00Z",
        "2018-07-02T24:00:00Z",
        "2018-07-02T22:23:00.Z",
        "2018-07-02T22:23:00Zjunk",
        "2018-07-0",
        "tls",
        "2018-07-02T22:23:0x",
    ] {
        assert_eq!(iso8601_ms(bad.as_bytes()), None, "{bad}");
    }
}

#[test]
fn every_real_elb_line_parses() {
    for (file, want) in [
        ("aws/alb/elastic-integrations/test-alb.log", 10),
        ("aws/alb/elastic-beats/application-lb-http.log", 10),
        ("aws/alb/elastic-beats/example-alb-http.log", 9),
        ("aws/alb/classic-elb-elastic-beats/elb-http.log", 5),
        ("aws/alb/classic-elb-elastic-beats/elb-tcp.log", 6),
        ("aws/alb/classic-elb-elastic-beats/example-http.log", 2),
        ("aws/alb/classic-elb-elastic-beats/example-https.log", 1),
        ("aws/alb/classic-elb-elastic-beats/example-ssl.log", 1),
        ("aws/alb/classic-elb-elastic-beats/example-tcp.log", 2),
        ("aws/nlb/elastic-beats/example-nlb-tcp.log", 1),
        ("aws/nlb/elastic-integrations/test-alb.nlb-lines-3-6.log", 4),
    ] {
        for parser in [
            &mut AlbParser::new() as &mut dyn RecordParser,
            &mut NlbParser::new(),
        ] {
            let mut out = Vec::new();
            let report = super::super::parse_object(parser, &read(file), &mut out);
            assert_eq!(
                (report.records, report.error_count),
                (want, 0),
                "{file}: {:?}",
                report.errors
            );
            assert!(
                out.len() as u64 >= want,
                "{file}: every line measures something"
            );
        }
    }
}

/// Elastic's expected output for its mixed fixture: ALB, NLB and connection-log lines.
#[test]
fn elastic_fixture_values_match_its_expected_output() {
    let input = read("aws/alb/elastic-integrations/test-alb.log");
    let expected: Value = serde_json::from_slice(&read(
        "aws/alb/elastic-integrations/test-alb.log-expected.json",
    ))
    .expect("json");
    let expected = expected["expected"].as_array().expect("array");
    let input = lines(&input);
    assert_eq!(input.len(), expected.len());
    for (line, x) in input.iter().zip(expected) {
        let ev = events(line).expect("parses");
        let elb = &x["aws"]["elb"];
        let f = |p: &str| x.pointer(p).and_then(Value::as_f64);
        assert!(ev
            .iter()
            .all(|e| e.ts.timestamp_millis() == ms(x["@timestamp"].as_str().expect("ts"))));
        let l4 = layer(&ev, OsiLayer::L4).expect("L4");
        let l6 = layer(&ev, OsiLayer::L6);
        match elb["protocol"].as_str() {
            Some("http") => {
                let l7 = layer(&ev, OsiLayer::L7).expect("L7");
                let target = elb["backend"]["ip"]
                    .as_str()
                    .map(|ip| format!(">{ip}:{}", elb["backend"]["port"].as_str().expect("port")));
                assert_eq!(
                    l7.entity,
                    format!(
                        "{}{}",
                        elb["name"].as_str().expect("name"),
                        target.unwrap_or_default()
                    )
                );
                let bytes = f("/http/request/body/bytes").unwrap_or(0.0)
                    + f("/http/response/body/bytes").unwrap_or(0.0);
                assert_eq!(l7.bytes, bytes as u64);
                let times = ["request", "backend", "response"]
                    .map(|k| f(&format!("/aws/elb/{k}_processing_time/sec")));
                let latency = times
                    .iter()
                    .try_fold(0.0, |acc, t| t.map(|t| acc + t * 1000.0));
                assert!(
                    close(l7.latency_ms, latency),
                    "{:?} {latency:?}",
                    l7.latency_ms
                );
                assert_eq!(l4.entity, elb["name"].as_str().expect("name"));
                assert!(l6.is_none(), "plain HTTP has no L6");
            }
            Some("tcp") if elb["type"] == "tls" => {
                assert_eq!(l4.entity, elb["name"].as_str().expect("name"));
                assert_eq!(
                    l4.bytes as f64,
                    f("/source/bytes").expect("rx") + f("/destination/bytes").expect("tx")
                );
                assert!(close(l4.latency_ms, f("/aws/elb/connection_time/ms")));
                let l6 = l6.expect("NLB L6");
                assert!(close(l6.latency_ms, f("/aws/elb/tls_handshake_time/ms")));
                let ok = elb.get("ssl_protocol").is_some();
                assert_eq!((l6.connections, l6.errors), (1, u64::from(!ok)));
            }
            Some("tcp") => {
                assert_eq!(
                    l4.entity,
                    format!("listener:{}", elb["listener"].as_str().expect("listener"))
                );
                let failed = elb["tls_verify_status"] == "Failed";
                match l6 {
                    Some(l6) => {
                        assert!(close(l6.latency_ms, elb["tls_handshake_latency"].as_f64()));
                        assert_eq!(l6.error_class, failed.then_some(ErrorClass::TlsFailure));
                    }
                    None => assert!(elb.get("ssl_protocol").is_none()),
                }
            }
            other => panic!("unexpected protocol {other:?}"),
        }
    }
}

/// Simnalamburt's cases give every ALB field as text: the tokenizer must agree on each.
#[test]
fn alb_cases_split_into_the_expected_fields() {
    const NAMES: [&str; 30] = [
        "type",
        "time",
        "elb",
        "",
        "target_ip_port",
        "request_processing_time",
        "target_processing_time",
        "response_processing_time",
        "elb_status_code",
        "target_status_code",
        "received_bytes",
        "sent_bytes",
        "",
        "user_agent",
        "ssl_cipher",
        "ssl_protocol",
        "target_group_arn",
        "trace_id",
        "domain_name",
        "chosen_cert_arn",
        "matched_rule_priority",
        "request_creation_time",
        "actions_executed",
        "redirect_url",
        "error_reason",
        "target_ip_port_list",
        "target_status_code_list",
        "classification",
        "classification_reason",
        "tid",
    ];
    let cases = read("aws/alb/simnalamburt-elb-log-parser/alb.cases.jsonl");
    for case in lines(&cases) {
        let case: Value = serde_json::from_slice(case).expect("json");
        let (input, x) = (
            case["input"].as_str().expect("input").trim_end(),
            &case["expected"],
        );
        let got = fields(input.as_bytes());
        for (i, name) in NAMES.iter().enumerate().filter(|(_, n)| !n.is_empty()) {
            if let Some(want) = x[name].as_str() {
                assert_eq!(got[i], want, "case {} field {name}", case["case"]);
            }
        }
        assert_eq!(
            got[3],
            format!(
                "{}:{}",
                x["client_ip"].as_str().expect("ip"),
                x["client_port"].as_str().expect("port")
            )
        );
        let ev = events(input.as_bytes()).expect("parses");
        let l7 = layer(&ev, OsiLayer::L7).expect("L7");
        let num = |k: &str| x[k].as_str().expect(k).parse::<u64>().expect("number");
        assert_eq!(l7.bytes, num("received_bytes") + num("sent_bytes"));
        assert_eq!(
            l7.ts.timestamp_millis(),
            ms(x["time"].as_str().expect("time"))
        );
    }
}

#[test]
fn vrl_cases_give_the_expected_values() {
    let cases = read("aws/alb/vrl/parse_aws_alb_log.cases.jsonl");
    for case in lines(&cases) {
        let case: Value = serde_json::from_slice(case).expect("json");
        let x = &case["expected"];
        let mut f: [&[u8]; MAX_FIELDS] = [&[]; MAX_FIELDS];
        let input = case["input"].as_str().expect("input").as_bytes();
        let n = split_quoted(input, &mut f).expect("tokenizes");
        let r = alb_line(&f, n).expect("parses");
        let name = &case["case"];
        assert_eq!(r.elb, x["elb"].as_str().expect("elb"), "{name}");
        assert_eq!(
            r.elb_status.map(|s| s.to_string()).as_deref(),
            x["elb_status_code"].as_str(),
            "{name}"
        );
        assert_eq!(
            (r.received, r.sent),
            (
                x["received_bytes"].as_u64().expect("rx"),
                x["sent_bytes"].as_u64().expect("tx")
            )
        );
        for (i, k) in [
            "request_processing_time",
            "target_processing_time",
            "response_processing_time",
        ]
        .iter()
        .enumerate()
        {
            let want = x[k].as_f64().filter(|&t| t >= 0.0);
            assert!(close(r.processing_s[i], want), "{name} {k}");
        }
        let text = |o: Option<&[u8]>| o.map(|b| String::from_utf8_lossy(b).into_owned());
        assert_eq!(
            text(r.ssl_cipher),
            x["ssl_cipher"].as_str().map(str::to_owned),
            "{name}"
        );
        assert_eq!(
            text(r.ssl_protocol),
            x["ssl_protocol"].as_str().map(str::to_owned),
            "{name}"
        );
        assert_eq!(
            text(r.error_reason),
            x["error_reason"].as_str().map(str::to_owned),
            "{name}"
        );
        if let Some(t) = x.get("target_host") {
            assert_eq!(r.target, t.as_str(), "{name}");
        }
    }
}

#[test]
fn classic_cases_give_the_expected_values() {
    let cases = read("aws/alb/classic-elb-simnalamburt/classic_lb.cases.jsonl");
    for case in lines(&cases) {
        let case: Value = serde_json::from_slice(case).expect("json");
        let (x, input) = (
            &case["expected"],
            case["input"].as_str().expect("input").trim_end().as_bytes(),
        );
        let mut f: [&[u8]; MAX_FIELDS] = [&[]; MAX_FIELDS];
        let n = split_quoted(input, &mut f).expect("tokenizes");
        let r = classic_line(&f, n).expect("parses");
        assert_eq!(r.elb, x["elb"].as_str().expect("elb"));
        assert_eq!(
            r.target,
            Some(x["backend_ip_port"].as_str().expect("backend")).filter(|t| *t != "-")
        );
        assert_eq!(r.ts_ms, ms(x["time"].as_str().expect("time")));
        assert_eq!(
            r.elb_status.map(|s| s.to_string()).unwrap_or("-".into()),
            x["elb_status_code"].as_str().expect("status")
        );
        assert_eq!(r.http, x["http_method"] != "-");
        let rx = x["received_bytes"]
            .as_str()
            .expect("rx")
            .parse::<u64>()
            .expect("n");
        assert_eq!(r.received, rx);
        let ev = events(input).expect("parses");
        assert_eq!(layer(&ev, OsiLayer::L7).is_some(), r.http);
        assert_eq!(layer(&ev, OsiLayer::L6).is_some(), x["ssl_cipher"] != "-");
    }
}

#[test]
fn an_https_line_speaks_of_l4_l6_and_l7() {
    let input = read("aws/alb/elastic-beats/example-alb-http.log");
    let ev = events(lines(&input)[1]).expect("parses");
    assert_eq!(
        ev.iter().map(|e| e.layer).collect::<Vec<_>>(),
        [OsiLayer::L4, OsiLayer::L6, OsiLayer::L7]
    );
    assert_eq!(
        (ev[0].entity.as_str(), ev[0].connections),
        ("app/my-loadbalancer/50dc6c495c0c9188", 1)
    );
    assert_eq!((ev[1].connections, ev[1].errors), (1, 0));
    let l7 = &ev[2];
    assert_eq!(
        l7.entity,
        "app/my-loadbalancer/50dc6c495c0c9188>10.0.0.1:80"
    );
    assert_eq!((l7.requests, l7.bytes, l7.errors), (1, 57, 0));
    assert!(close(l7.latency_ms, Some(171.0)));
}

#[test]
fn status_classes_timeouts_and_tls_failures_are_errors() {
    let input = read("aws/alb/elastic-beats/application-lb-http.log");
    let ev = events(lines(&input)[1]).expect("504 line");
    let l7 = layer(&ev, OsiLayer::L7).expect("L7");
    assert_eq!(
        (l7.errors, l7.error_class, l7.latency_ms),
        (1, Some(ErrorClass::ServerError), None)
    );
    let ev = events(lines(&input)[0]).expect("460 line");
    assert_eq!(
        layer(&ev, OsiLayer::L7).expect("L7").error_class,
        Some(ErrorClass::ClientError)
    );

    let https_without_tls = b"https 2018-07-02T22:23:00.186641Z app/lb/1 1.2.3.4:5 - -1 -1 -1 400 - 0 0 \"- - -\" \"-\" - - - \"-\" \"-\" \"-\" - 2018-07-02T22:23:00.186641Z \"-\" \"-\" \"-\"";
    let l6 = events(https_without_tls)
        .expect("parses")
        .into_iter()
        .find(|e| e.layer == OsiLayer::L6)
        .expect("L6");
    assert_eq!(
        (l6.connections, l6.errors, l6.error_class),
        (1, 1, Some(ErrorClass::TlsFailure))
    );
    let target_tls = b"http 2018-07-02T22:23:00.186641Z app/lb/1 1.2.3.4:5 10.0.0.1:443 0.001 -1 -1 502 - 9 9 \"GET http://x/ HTTP/1.1\" \"-\" - - - \"-\" \"-\" \"-\" 0 2018-07-02T22:23:00.186641Z \"forward\" \"-\" \"TargetTLSNegotiationError\"";
    let l6 = events(target_tls)
        .expect("parses")
        .into_iter()
        .find(|e| e.layer == OsiLayer::L6)
        .expect("L6");
    assert_eq!(l6.error_class, Some(ErrorClass::TlsFailure));

    // h2 in clear text (h2c) is not a TLS failure: simnalamburt's case 16.
    let cases = read("aws/alb/simnalamburt-elb-log-parser/alb.cases.jsonl");
    let case: Value = serde_json::from_slice(lines(&cases)[16]).expect("json");
    let ev = events(case["input"].as_str().expect("input").as_bytes()).expect("parses");
    assert!(layer(&ev, OsiLayer::L6).is_none());

    let tcp = read("aws/alb/classic-elb-elastic-beats/example-tcp.log");
    let ev = events(lines(&tcp)[1]).expect("no backend");
    assert_eq!(
        (ev.len(), ev[0].error_class, ev[0].bytes),
        (1, Some(ErrorClass::FailedHandshake), 82)
    );
}

/// Line 5 of Filebeat's example lacks a space between `"-"` and `1`.
#[test]
fn a_closing_quote_ends_its_field_even_without_a_space() {
    let input = read("aws/alb/elastic-beats/example-alb-http.log");
    let got = fields(lines(&input)[4]);
    assert_eq!(got.len(), 25);
    assert_eq!(
        (got[19].as_str(), got[20].as_str(), got[21].as_str()),
        ("-", "1", "2018-07-02T22:22:48.364000Z")
    );
    assert_eq!(got[24], "-");
}

#[test]
fn malformed_lines_are_refused_with_a_reason_and_never_panic() {
    let cases: [(&[u8], &str); 9] = [
        (b"garbage here", "not a load balancer log line"),
        (b"http 2018-07-02T22:23:00.186641Z app/lb/1 1.2.3.4:5", "with 4 fields"),
        (b"http yesterday app/lb/1 1.2.3.4:5 - 0 0 0 200 200 1 1 \"GET / HTTP/1.1\" \"-\" - -", "not an ISO 8601 time"),
        (b"http 2018-07-02T22:23:00.186641Z app/lb/1 1.2.3.4:5 - 0 0 0 200 200 lots 1 \"GET / HTTP/1.1\" \"-\" - -", "received_bytes `lots`"),
        (b"http 2018-07-02T22:23:00.186641Z app/lb/1 1.2.3.4:5 - 0 NaN 0 200 200 1 1 \"GET / HTTP/1.1\" \"-\" - -", "`NaN` is not a duration"),
        (b"http 2018-07-02T22:23:00.186641Z app/lb/1 1.2.3.4:5 - 0 0 0 200 200 1 1 \"GET / HTTP/1.1", "never closes"),
        (b"http 2018-07-02T22:23:00.186641Z \xff\xfe 1.2.3.4:5 - 0 0 0 200 200 1 1 \"GET / HTTP/1.1\" \"-\" - -", "not UTF-8"),
        (b"tls 3.0 2018-12-20T02:59:40 net/a/b l 1.2.3.4:5 1.2.3.4:443 5 2 98 246 - arn - c tlsv12 - d", "version `3.0`"),
        (b"2024-10-04T17:05:15.514108Z 192.168.131.39 36280 99999 TLSv1.2 c 4.036 \"-\" - - Success", "not a port"),
    ];
    for (line, reason) in cases {
        let err = events(line).expect_err("refused");
        assert!(err.contains(reason), "{err} (wanted {reason})");
    }
    assert_eq!(
        AlbParser::new().line(b"   ", &mut Vec::new()),
        Ok(LineOutcome::Skipped)
    );
    let long_target = format!("http 2018-07-02T22:23:00.186641Z app/lb/1 1.2.3.4:5 {}:80 0 0 0 200 200 1 1 \"GET / HTTP/1.1\" \"-\" - -", "x".repeat(300));
    let mut sink = Vec::new();
    let err = AlbParser::new()
        .line(long_target.as_bytes(), &mut sink)
        .expect_err("refused");
    assert!(
        err.contains("bytes long") && sink.is_empty(),
        "{err}: a refused line measures nothing"
    );

    // Every prefix and a byte flipped at every place of real lines: Ok or Err, no panic.
    let mut all = read("aws/alb/elastic-integrations/test-alb.log");
    all.extend(read("aws/alb/classic-elb-elastic-beats/example-tcp.log"));
    for line in lines(&all) {
        for cut in 0..line.len() {
            let _ = events(&line[..cut]);
            let mut bent = line.to_vec();
            bent[cut] = [b'"', b' ', b'-', 0xff][cut % 4];
            let _ = events(&bent);
        }
    }
}

#[test]
fn sniffing_tells_the_families_apart_on_real_files() {
    let first = |rel: &str| {
        read(rel)
            .split(|&b| b == b'\n')
            .take(5)
            .map(<[u8]>::to_vec)
            .collect::<Vec<_>>()
    };
    let sniffs = |rel: &str| {
        let f = first(rel);
        let refs: Vec<&[u8]> = f.iter().map(Vec::as_slice).collect();
        (sniff(&refs), sniff_nlb(&refs))
    };
    for alb in [
        "aws/alb/elastic-integrations/test-alb.log",
        "aws/alb/elastic-beats/example-alb-http.log",
        "aws/alb/classic-elb-elastic-beats/elb-tcp.log",
    ] {
        assert_eq!(sniffs(alb), (true, false), "{alb}");
    }
    assert_eq!(
        sniffs("aws/nlb/elastic-beats/example-nlb-tcp.log"),
        (false, true)
    );
    for other in [
        "zeek/wrccdc-2018/tsv/dns.log",
        "zeek/wrccdc-2018/json/ssl.json",
        "aws/vpcflow/elastic-beats/bad.log",
        "aws/vpcflow/elastic-beats/accept-reject-traffic.log",
    ] {
        assert_eq!(sniffs(other), (false, false), "{other}");
    }
}

#[test]
fn connection_logs_take_their_load_balancer_from_the_object_key() {
    let key = "logs/AWSLogs/123456789012/elasticloadbalancing/us-east-2/2022/05/01/conn_log.123456789012_elasticloadbalancing_us-east-2_app.my-loadbalancer.1234567890abcdef_20220215T2340Z_172.160.001.192_20sg8hgm.log.gz";
    assert_eq!(
        load_balancer_from_key(key).as_deref(),
        Some("app/my-loadbalancer/1234567890abcdef")
    );
    assert_eq!(load_balancer_from_key("inbox/test-alb.log"), None);
    let mut out = Vec::new();
    let line = b"2024-10-04T17:05:15.514108Z 192.168.131.39 36280 443 TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256 4.036 \"-\" - - Success";
    AlbParser::for_object_key(key)
        .line(line, &mut out)
        .expect("parses");
    assert_eq!(out[0].entity, "app/my-loadbalancer/1234567890abcdef:443");
}
