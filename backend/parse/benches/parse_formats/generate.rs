//! Deterministic log files for the benchmark, one generator per format, written so that
//! DuckDB reads the same bytes LayerCast does (`scripts/bench_duckdb.py` has the matching
//! `read_csv` / `read_json` calls).

use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Result;

use crate::BenchFormat;

/// Start of the generated hour (2025-11-25T10:00:00Z), epoch seconds.
const T0: u64 = 1_764_064_800;
/// Distinct interfaces (VPC), address pairs (Zeek) or targets (ALB) to spread records over.
const ENTITIES: u64 = 200;
const SERVICE_PORTS: [u64; 10] = [443, 80, 22, 53, 5432, 3306, 6379, 8080, 9092, 123];

/// splitmix64: small, fast and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    /// An index in `0..n` skewed toward small values: some entities are much busier than
    /// others, as in a real network.
    fn skewed(&mut self, n: u64) -> usize {
        (self.below(n) * self.below(n) / n) as usize
    }

    fn private_addr(&mut self) -> String {
        let r = self.next();
        let (a, b, c, d) = (
            r & 0xff,
            (r >> 8) & 0xff,
            (r >> 16) & 0xff,
            1 + (r >> 24) % 254,
        );
        match (r >> 40) % 3 {
            0 => format!("10.{a}.{b}.{d}"),
            1 => format!("172.{}.{c}.{d}", 16 + a % 16),
            _ => format!("192.168.{b}.{d}"),
        }
    }

    /// Packets over four orders of magnitude and their bytes (40–1500 each).
    fn packets_and_bytes(&mut self) -> (u64, u64) {
        let magnitude = 10_u64.pow(1 + self.below(4) as u32);
        let packets = 1 + self.below(magnitude);
        (packets, packets * (40 + self.below(1461)))
    }

    /// Seconds into the hour with microseconds, as Zeek and ALB write time.
    fn micros(&mut self) -> (u64, u64) {
        (self.below(3600), self.below(1_000_000))
    }
}

/// Writes `lines` records of `format` to `path` (through a temporary file, so that an
/// interrupted run leaves no half file behind).
pub fn generate(format: BenchFormat, path: &Path, lines: u64) -> Result<()> {
    let tmp = path.with_extension("tmp");
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut w = BufWriter::with_capacity(1 << 20, fs::File::create(&tmp)?);
    let mut rng = Rng(0x1a7e_c457);
    match format {
        BenchFormat::VpcFlow => vpc_flow(&mut w, &mut rng, lines)?,
        BenchFormat::ZeekTsv => zeek_conn(&mut w, &mut rng, lines, false)?,
        BenchFormat::ZeekJson => zeek_conn(&mut w, &mut rng, lines, true)?,
        BenchFormat::Alb => alb(&mut w, &mut rng, lines)?,
    }
    w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    fs::rename(&tmp, path)?;
    Ok(())
}

/// Version 2 records without a header line (as CloudWatch Logs delivers them), 3 % REJECT,
/// 0.5 % NODATA.
fn vpc_flow(w: &mut impl Write, rng: &mut Rng, lines: u64) -> Result<()> {
    let enis: Vec<String> = (0..ENTITIES)
        .map(|_| format!("eni-0{:016x}", rng.next()))
        .collect();
    for _ in 0..lines {
        let eni = &enis[rng.skewed(ENTITIES)];
        let start = T0 + rng.below(3600);
        let end = start + rng.below(61);
        let roll = rng.below(1000);
        if roll < 5 {
            writeln!(
                w,
                "2 123456789012 {eni} - - - - - - - {start} {end} - NODATA"
            )?;
            continue;
        }
        let action = if roll < 35 { "REJECT" } else { "ACCEPT" };
        let (src, dst) = (rng.private_addr(), rng.private_addr());
        let proto = match rng.below(100) {
            0..=69 => 6,
            70..=94 => 17,
            _ => 1,
        };
        let (sport, dport) = if proto == 1 {
            (0, 0)
        } else {
            let service = SERVICE_PORTS[rng.below(SERVICE_PORTS.len() as u64) as usize];
            let ephemeral = 32_768 + rng.below(28_232);
            if rng.below(2) == 0 {
                (ephemeral, service)
            } else {
                (service, ephemeral)
            }
        };
        let (packets, bytes) = rng.packets_and_bytes();
        writeln!(
            w,
            "2 123456789012 {eni} {src} {dst} {sport} {dport} {proto} {packets} {bytes} \
             {start} {end} {action} OK"
        )?;
    }
    Ok(())
}

const CONN_STATES: [&str; 8] = ["SF", "SF", "SF", "SF", "S0", "REJ", "RSTO", "OTH"];

/// A Zeek conn log over `ENTITIES` address pairs: TSV with its `#` headers and `#close`, or
/// JSON lines as Zeek's JSON writer gives them (dotted names, `ts` in epoch seconds).
fn zeek_conn(w: &mut impl Write, rng: &mut Rng, lines: u64, json: bool) -> Result<()> {
    let pairs: Vec<(String, String)> = (0..ENTITIES)
        .map(|_| (rng.private_addr(), rng.private_addr()))
        .collect();
    if !json {
        w.write_all(
            b"#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n\
              #path\tconn\n#open\t2025-11-25-10-00-00\n\
              #fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\t\
              duration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\t\
              missed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\t\
              tunnel_parents\n\
              #types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\t\
              count\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\n",
        )?;
    }
    for _ in 0..lines {
        let (orig, resp) = &pairs[rng.skewed(ENTITIES)];
        let (s, us) = rng.micros();
        let ts = T0 + s;
        let uid = rng.next() & 0xffff_ffff_ffff;
        let sport = 32_768 + rng.below(28_232);
        let dport = SERVICE_PORTS[rng.below(SERVICE_PORTS.len() as u64) as usize];
        let proto = if dport == 53 || dport == 123 {
            "udp"
        } else {
            "tcp"
        };
        let state = CONN_STATES[rng.below(CONN_STATES.len() as u64) as usize];
        let (op, ob) = rng.packets_and_bytes();
        let (rp, rb) = rng.packets_and_bytes();
        // Payload is the IP bytes less 40 bytes of headers per packet.
        let (opay, rpay) = (ob - 40 * op, rb - 40 * rp);
        let dur_ms = rng.below(60_000);
        if json {
            writeln!(
                w,
                "{{\"ts\":{ts}.{us:06},\"uid\":\"C{uid:012x}\",\"id.orig_h\":\"{orig}\",\
                 \"id.orig_p\":{sport},\"id.resp_h\":\"{resp}\",\"id.resp_p\":{dport},\
                 \"proto\":\"{proto}\",\"duration\":{}.{:03},\"orig_bytes\":{opay},\
                 \"resp_bytes\":{rpay},\"conn_state\":\"{state}\",\"missed_bytes\":0,\
                 \"history\":\"ShADadFf\",\"orig_pkts\":{op},\"orig_ip_bytes\":{ob},\
                 \"resp_pkts\":{rp},\"resp_ip_bytes\":{rb}}}",
                dur_ms / 1000,
                dur_ms % 1000
            )?;
        } else {
            writeln!(
                w,
                "{ts}.{us:06}\tC{uid:012x}\t{orig}\t{sport}\t{resp}\t{dport}\t{proto}\t-\t\
                 {}.{:03}\t{opay}\t{rpay}\t{state}\t-\t-\t0\tShADadFf\t{op}\t{ob}\t{rp}\t{rb}\t\
                 (empty)",
                dur_ms / 1000,
                dur_ms % 1000
            )?;
        }
    }
    if !json {
        w.write_all(b"#close\t2025-11-25-11-00-00\n")?;
    }
    Ok(())
}

const ALB_STATUS: [u16; 10] = [200, 200, 200, 200, 200, 301, 304, 404, 500, 503];

/// ALB access log lines with every field: 20 load balancers, `ENTITIES` targets, HTTPS with
/// TLS fields on every other line, quoted request and user agent with spaces.
fn alb(w: &mut impl Write, rng: &mut Rng, lines: u64) -> Result<()> {
    let elbs: Vec<String> = (0..20)
        .map(|i| format!("app/lb-{i}/{:016x}", rng.next()))
        .collect();
    let targets: Vec<String> = (0..ENTITIES)
        .map(|_| {
            format!(
                "{}:{}",
                rng.private_addr(),
                SERVICE_PORTS[rng.below(4) as usize]
            )
        })
        .collect();
    for _ in 0..lines {
        let t = rng.skewed(ENTITIES);
        let (elb, target) = (&elbs[t % elbs.len()], &targets[t]);
        let (s, us) = rng.micros();
        let (h, m, sec) = (10 + s / 3600, s % 3600 / 60, s % 60);
        let client = rng.private_addr();
        let cport = 1024 + rng.below(60_000);
        let (rq, tg, rs) = (rng.below(3), rng.below(900), rng.below(3));
        let status = ALB_STATUS[rng.below(ALB_STATUS.len() as u64) as usize];
        let (received, sent) = (100 + rng.below(2_000), 200 + rng.below(100_000));
        let https = rng.below(2) == 0;
        let (kind, scheme, port, tls) = if https {
            ("https", "https", 443, "ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2")
        } else {
            ("http", "http", 80, "- -")
        };
        let path = rng.below(10_000);
        writeln!(
            w,
            "{kind} 2025-11-25T{h:02}:{m:02}:{sec:02}.{us:06}Z {elb} {client}:{cport} {target} \
             0.{rq:03} 0.{tg:03} 0.{rs:03} {status} {status} {received} {sent} \
             \"GET {scheme}://shop.example.com:{port}/items/{path}?page=2 HTTP/1.1\" \
             \"Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/133.0\" {tls} \
             arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/web/73e2d6bc24d8a067 \
             \"Root=1-6745{:08x}-{:024x}\" \"shop.example.com\" \"-\" 0 \
             2025-11-25T{h:02}:{m:02}:{sec:02}.{us:06}Z \"forward\" \"-\" \"-\" \"{target}\" \
             \"{status}\" \"-\" \"-\"",
            rng.next() & 0xffff_ffff,
            rng.next(),
        )?;
    }
    Ok(())
}
