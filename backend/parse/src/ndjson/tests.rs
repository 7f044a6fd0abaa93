use super::super::{parse_object, Parsed};
use super::*;

fn parse(bytes: &[u8]) -> Parsed {
    let mut events = Vec::new();
    let report = parse_object(&mut NdjsonParser, bytes, &mut events);
    Parsed {
        events,
        errors: report.errors,
        error_count: report.error_count,
    }
}

#[test]
fn malformed_lines_are_counted_with_their_line_and_the_rest_is_taken() {
    let input = b"{\"ts\":1000,\"layer\":\"L3\",\"entity\":\"a\",\"bytes\":5}\n\
        not json\n\
        \n\
        {\"ts\":2000,\"layer\":\"L9\",\"entity\":\"a\"}\r\n\
        {\"ts\":3000,\"layer\":\"L4\",\"entity\":\"b\"}";
    let parsed = parse(input);
    assert_eq!(parsed.events.len(), 2);
    assert_eq!(parsed.error_count, 2);
    assert_eq!(
        parsed.errors.iter().map(|e| e.line).collect::<Vec<_>>(),
        vec![2, 4]
    );
    assert!(
        parsed.errors[1].reason.contains("L9"),
        "{}",
        parsed.errors[1].reason
    );
}

#[test]
fn invalid_utf8_and_overlong_entities_are_refused() {
    assert!(parse_line(b"{\"ts\":1,\"layer\":\"L3\",\"entity\":\"\xff\"}").is_err());
    let long = format!(
        "{{\"ts\":1,\"layer\":\"L3\",\"entity\":\"{}\"}}",
        "x".repeat(300)
    );
    assert!(parse_line(long.as_bytes())
        .expect_err("too long")
        .contains("300 bytes"));
}
