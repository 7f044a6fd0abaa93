//! A fast path for Zeek's JSON lines: flat objects of plain strings, numbers and booleans, read
//! in one pass without building a map. Anything it is not sure of (an escape, a float where a
//! count belongs, a duplicate field, invalid UTF-8) makes it step aside, and serde_json reads
//! the line: results and error messages are the serde path's, only faster for usual lines.

use super::tsv::epoch_ms;
use super::{port, seen, Rec};
use crate::alb::fields::{iso8601_ms, parse_u64};

/// A line as the fast path read it.
pub(super) struct Scanned<'a> {
    pub(super) path: Option<&'a str>,
    pub(super) rec: Rec<'a>,
    /// Which kind-telling fields the record has, as [`super::guess`] takes them.
    pub(super) seen: u16,
}

/// Most digits of a `ts` the fast path converts exactly (10 for the seconds, 6 for the
/// microseconds Zeek writes); serde's `f64` path agrees with integer arithmetic up to there.
const MAX_TS_SECONDS_DIGITS: usize = 10;
const MAX_TS_FRACTION_DIGITS: usize = 6;

/// Nesting the fast path follows (Zeek writes one level); deeper lines go to serde, which
/// has its own limit.
const MAX_DEPTH: usize = 8;

enum Value<'a> {
    Str(&'a [u8]),
    Num(&'a [u8]),
    Bool(bool),
    Null,
    /// An array or object: only its presence matters.
    Nested,
}

/// Reads `line` when it is a flat JSON object the fast path understands; `None` otherwise.
pub(super) fn scan(line: &[u8]) -> Option<Scanned<'_>> {
    std::str::from_utf8(line).ok()?;
    let mut c = Cursor { b: line, i: 0 };
    c.ws();
    c.eat(b'{')?;
    let mut out = Scanned {
        path: None,
        rec: Rec::default(),
        seen: 0,
    };
    // Fields already read, by their bit: serde refuses a duplicate, so the fast path leaves it
    // to serde.
    let mut fields = 0_u32;
    c.ws();
    if c.peek() == Some(b'}') {
        c.i += 1;
    } else {
        loop {
            c.ws();
            let key = c.string()?;
            c.ws();
            c.eat(b':')?;
            c.ws();
            let value = c.value(0)?;
            if let Some(bit) = out.field(key, value)? {
                if fields & bit != 0 {
                    return None;
                }
                fields |= bit;
            }
            c.ws();
            match c.next()? {
                b',' => continue,
                b'}' => break,
                _ => return None,
            }
        }
    }
    c.ws();
    (c.i == line.len()).then_some(out)
}

impl<'a> Scanned<'a> {
    /// Takes one field; `Some(Some(bit))` for a known field, `Some(None)` for one nobody
    /// reads, `None` when the value is not what the fast path can take.
    fn field(&mut self, key: &[u8], v: Value<'a>) -> Option<Option<u32>> {
        let r = &mut self.rec;
        let bit = |n: u32| Some(Some(1_u32 << n));
        match key {
            b"_path" => {
                self.path = text(v)?;
                bit(0)
            }
            b"ts" => {
                r.ts_ms = ts(v)?;
                bit(1)
            }
            b"id.orig_h" => {
                r.orig_h = text(v)?.filter(|s| !s.is_empty());
                bit(2)
            }
            b"id.resp_h" => {
                r.resp_h = text(v)?.filter(|s| !s.is_empty());
                bit(3)
            }
            b"id.resp_p" => {
                // A port out of range is serde's to report.
                r.resp_p = match count(v)? {
                    Some(p) => Some(port(p).ok()?),
                    None => None,
                };
                bit(4)
            }
            b"proto" => {
                r.proto = text(v)?.filter(|s| !s.is_empty());
                bit(5)
            }
            b"orig_bytes" => {
                r.orig_bytes = count(v)?;
                bit(6)
            }
            b"resp_bytes" => {
                r.resp_bytes = count(v)?;
                bit(7)
            }
            b"orig_ip_bytes" => {
                r.orig_ip_bytes = count(v)?;
                bit(8)
            }
            b"resp_ip_bytes" => {
                r.resp_ip_bytes = count(v)?;
                bit(9)
            }
            b"orig_pkts" => {
                r.orig_pkts = count(v)?;
                bit(10)
            }
            b"resp_pkts" => {
                r.resp_pkts = count(v)?;
                bit(11)
            }
            b"conn_state" => {
                // An empty state still tells the kind, as in the serde path.
                let raw = text(v)?;
                self.seen |= present(&raw, seen::CONN_STATE);
                r.conn_state = raw.filter(|s| !s.is_empty());
                bit(12)
            }
            b"host" => {
                r.host = text(v)?.filter(|s| !s.is_empty());
                bit(13)
            }
            b"status_code" => {
                r.status_code = count(v)?;
                bit(14)
            }
            b"request_body_len" => {
                r.request_body_len = count(v)?;
                self.seen |= present(&r.request_body_len, seen::HTTP_BODY);
                bit(15)
            }
            b"response_body_len" => {
                r.response_body_len = count(v)?;
                self.seen |= present(&r.response_body_len, seen::HTTP_BODY);
                bit(16)
            }
            b"rtt" => {
                r.rtt_s = float(v)?.filter(|r| r.is_finite() && *r >= 0.0);
                bit(17)
            }
            b"rcode_name" => {
                let raw = text(v)?;
                self.seen |= present(&raw, seen::DNS_ONLY);
                r.rcode_name = raw.filter(|s| !s.is_empty());
                bit(18)
            }
            b"server_name" => {
                r.server_name = text(v)?.filter(|s| !s.is_empty());
                bit(19)
            }
            b"established" => {
                r.established = flag(v)?;
                self.seen |= present(&r.established, seen::ESTABLISHED);
                bit(20)
            }
            b"resumed" => {
                r.resumed = flag(v)?;
                bit(21)
            }
            b"peer" => {
                r.peer = text(v)?.filter(|s| !s.is_empty());
                bit(22)
            }
            // Read only for their presence (a `null` is absent, as serde's `Option` has it).
            b"trans_id" => self.mark(v, seen::TRANS_ID, 23),
            b"rejected" => self.mark(v, seen::DNS_ONLY, 24),
            b"query" => self.mark(v, seen::DNS_ONLY, 25),
            b"trans_depth" => self.mark(v, seen::TRANS_DEPTH, 26),
            b"request_path" => self.mark(v, seen::SIP_ONLY, 27),
            b"call_id" => self.mark(v, seen::SIP_ONLY, 28),
            b"name" => self.mark(v, seen::NAME, 29),
            b"notice" => self.mark(v, seen::NOTICE, 30),
            _ => Some(None),
        }
    }

    fn mark(&mut self, v: Value<'_>, seen_bit: u16, field_bit: u32) -> Option<Option<u32>> {
        if !matches!(v, Value::Null) {
            self.seen |= seen_bit;
        }
        Some(Some(1 << field_bit))
    }
}

fn present<T>(v: &Option<T>, bit: u16) -> u16 {
    if v.is_some() {
        bit
    } else {
        0
    }
}

/// A string field: `Some(None)` for `null`, `None` (step aside) for any other type.
fn text(v: Value<'_>) -> Option<Option<&str>> {
    match v {
        Value::Str(s) => std::str::from_utf8(s).ok().map(Some),
        Value::Null => Some(None),
        _ => None,
    }
}

fn count(v: Value<'_>) -> Option<Option<u64>> {
    match v {
        Value::Num(n) => parse_u64(n).map(Some),
        Value::Null => Some(None),
        _ => None,
    }
}

fn float(v: Value<'_>) -> Option<Option<f64>> {
    match v {
        // serde_json's own float reading (not std's): its rounding is what the serde path gives.
        Value::Num(n) => serde_json::from_slice(n).ok().map(Some),
        Value::Null => Some(None),
        _ => None,
    }
}

fn flag(v: Value<'_>) -> Option<Option<bool>> {
    match v {
        Value::Bool(b) => Some(Some(b)),
        Value::Null => Some(None),
        _ => None,
    }
}

/// `ts` as epoch seconds with at most microseconds, or ISO 8601 text.
fn ts(v: Value<'_>) -> Option<Option<i64>> {
    match v {
        Value::Num(n) => {
            let (secs, frac) = match memchr::memchr(b'.', n) {
                Some(dot) => (&n[..dot], &n[dot + 1..]),
                None => (n, &b""[..]),
            };
            if secs.len() > MAX_TS_SECONDS_DIGITS || frac.len() > MAX_TS_FRACTION_DIGITS {
                return None;
            }
            epoch_ms(n).map(Some)
        }
        Value::Str(s) => iso8601_ms(s).map(Some),
        Value::Null => Some(None),
        _ => None,
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn eat(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// A string without escapes or control characters, without its quotes.
    fn string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let rest = &self.b[self.i..];
        // One pass for the closing quote, an escape or a control character: Zeek's strings
        // are short (addresses, states, names), where a plain loop beats a vector search
        // followed by a second pass.
        let end = rest
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        if rest[end] != b'"' {
            return None;
        }
        self.i += end + 1;
        Some(&rest[..end])
    }

    /// A number as JSON writes it (`-`, no leading zeros, fraction, exponent).
    fn number(&mut self) -> Option<&'a [u8]> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            self.digit()?;
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            self.digit()?;
            self.digits();
        }
        Some(&self.b[start..self.i])
    }

    fn digit(&mut self) -> Option<()> {
        self.next().filter(u8::is_ascii_digit).map(|_| ())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i + word.len();
        (self.b.get(self.i..end)? == word).then(|| self.i = end)
    }

    fn value(&mut self, depth: usize) -> Option<Value<'a>> {
        Some(match self.peek()? {
            b'"' => Value::Str(self.string()?),
            b't' => self.literal(b"true").map(|()| Value::Bool(true))?,
            b'f' => self.literal(b"false").map(|()| Value::Bool(false))?,
            b'n' => self.literal(b"null").map(|()| Value::Null)?,
            b'[' | b'{' => {
                self.skip_nested(depth + 1)?;
                Value::Nested
            }
            _ => Value::Num(self.number()?),
        })
    }

    /// Skips an array or object (Zeek's sets and vectors), checking its syntax.
    fn skip_nested(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        let close = match self.next()? {
            b'[' => b']',
            _ => b'}',
        };
        self.ws();
        if self.peek() == Some(close) {
            self.i += 1;
            return Some(());
        }
        loop {
            self.ws();
            if close == b'}' {
                self.string()?;
                self.ws();
                self.eat(b':')?;
                self.ws();
            }
            self.value(depth)?;
            self.ws();
            match self.next()? {
                b',' => continue,
                c if c == close => return Some(()),
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use layercast_shared::Event;

    use super::super::ZeekParser;
    use super::scan;
    use crate::{LineOutcome, RecordParser};

    const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/zeek/");
    const JSON_LOGS: [&str; 3] = [
        "stratosphere/002-portscan-json/conn.log",
        "stratosphere/007-honeypot-json/http.log",
        "wrccdc-2018/json",
    ];

    /// Every line through the parser with and without the fast path: same outcome, same
    /// measurements. Returns how many lines the fast path took.
    fn same_as_serde(lines: &[&[u8]]) -> usize {
        let (mut fast, mut slow) = (ZeekParser::new(), ZeekParser::new());
        slow.serde_only = true;
        let mut taken = 0;
        for line in lines {
            let (mut a, mut b): (Vec<Event>, Vec<Event>) = (Vec::new(), Vec::new());
            let outcome_fast = fast.line(line, &mut a);
            let outcome_slow = slow.line(line, &mut b);
            let shown = String::from_utf8_lossy(line);
            match (&outcome_fast, &outcome_slow) {
                // Error texts may differ in wording only where the fast path stepped aside.
                (Err(_), Err(_)) => {}
                _ => assert_eq!(outcome_fast, outcome_slow, "{shown}"),
            }
            assert_eq!(a, b, "{shown}");
            taken += usize::from(scan(line).is_some());
        }
        taken
    }

    fn lines_of(path: &std::path::Path) -> Vec<Vec<u8>> {
        let mut files = vec![];
        if path.is_dir() {
            for e in std::fs::read_dir(path).expect("list") {
                files.push(e.expect("entry").path());
            }
            files.sort();
        } else {
            files.push(path.to_owned());
        }
        files
            .iter()
            .flat_map(|f| {
                let bytes = std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
                bytes
                    .split(|&b| b == b'\n')
                    .map(<[u8]>::to_vec)
                    .collect::<Vec<_>>()
            })
            .filter(|l| l.first() == Some(&b'{'))
            .collect()
    }

    #[test]
    fn the_fast_path_agrees_with_serde_on_every_real_line() {
        for log in JSON_LOGS {
            let lines = lines_of(&std::path::Path::new(DATA).join(log));
            assert!(!lines.is_empty(), "{log}");
            let refs: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
            let taken = same_as_serde(&refs);
            // Real Zeek lines are what the fast path is for: it takes every one without an
            // escape (those are serde's).
            let plain = lines.iter().filter(|l| !l.contains(&b'\\')).count();
            assert_eq!(taken, plain, "{log}: {} lines", lines.len());
        }
    }

    #[test]
    fn unusual_lines_go_to_serde_and_come_out_the_same() {
        let lines: [&[u8]; 14] = [
            br#"{"ts":1.5,"id.orig_h":"a\"b","id.resp_h":"c","id.resp_p":1,"proto":"tcp","conn_state":"S0"}"#,
            br#"{"ts":1,"ts":2,"id.orig_h":"a","id.resp_h":"c","id.resp_p":1,"proto":"tcp","conn_state":"S0"}"#,
            br#"{"ts":1.5,"id.orig_h":"a","id.resp_h":"c","id.resp_p":1.0,"proto":"tcp","conn_state":"S0"}"#,
            br#"{"ts":1.5,"id.orig_h":"a","id.resp_h":"c","id.resp_p":70000,"proto":"tcp","conn_state":"S0"}"#,
            br#"{"ts":1.5e3,"id.orig_h":"a","id.resp_h":"c","id.resp_p":80,"proto":"tcp","conn_state":"SF"}"#,
            br#"{"ts":1.1234567,"id.orig_h":"a","id.resp_h":"c","id.resp_p":80,"proto":"tcp","conn_state":"SF"}"#,
            br#"{"ts":"2018-03-24T17:15:20.865716Z","id.orig_h":"a","id.resp_h":"c","id.resp_p":80,"proto":"udp","conn_state":"SF","orig_bytes":null}"#,
            br#"{"ts":-1,"id.orig_h":"a","id.resp_h":"c","id.resp_p":80,"proto":"tcp","conn_state":"SF"}"#,
            br#"{"ts":01,"id.orig_h":"a","id.resp_h":"c","id.resp_p":80,"proto":"tcp","conn_state":"SF"}"#,
            br#"{"ts":1,"id.orig_h":"a","id.resp_h":"c","id.resp_p":80,"proto":"tcp","conn_state":"SF","tunnel_parents":[[[]]],"x":{"y":[1,2]}}"#,
            br#"{"ts":1,"id.orig_h":"a","id.resp_h":"c","id.resp_p":80,"proto":"tcp","conn_state":"SF"} trailing"#,
            br#"{"ts":1,"id.orig_h":"a","id.resp_h":"c","id.resp_p":80,"proto":"tcp","conn_state":"SF""#,
            b"{\"ts\":1,\"id.orig_h\":\"a\xff\",\"id.resp_h\":\"c\",\"id.resp_p\":80,\"proto\":\"tcp\",\"conn_state\":\"SF\"}",
            br#"{"ts":1,"rtt":0.25,"id.orig_h":"a","id.resp_h":"8.8.8.8","id.resp_p":53,"proto":"udp","rcode_name":"SERVFAIL","query":"x"}"#,
        ];
        same_as_serde(&lines);
        // The plain ones stay on the fast path; escapes, duplicates, floats where a count
        // belongs, long fractions, negative or zero-led numbers and broken lines do not.
        let taken: Vec<bool> = lines.iter().map(|l| scan(l).is_some()).collect();
        assert_eq!(
            taken,
            [
                false, false, false, false, false, false, true, false, false, true, false, false,
                false, true
            ]
        );
    }

    #[test]
    fn deep_nesting_steps_aside_without_overflowing() {
        let mut line = b"{\"ts\":1,\"x\":".to_vec();
        line.extend(std::iter::repeat_n(b'[', 100_000));
        line.extend(std::iter::repeat_n(b']', 100_000));
        line.push(b'}');
        assert!(scan(&line).is_none());
        let outcome = ZeekParser::new().line(&line, &mut Vec::<Event>::new());
        assert!(outcome.is_err() || outcome == Ok(LineOutcome::Skipped));
    }
}
