"""DuckDB's side of scripts/bench: what a planner would run on a log instead of LayerCast.
Sums bytes, a count and errors per entity per 10-second window with read_csv / read_json,
best of --runs per thread count, and prints `key=value` lines for scripts/bench to read
(`t1_mb_per_s=...` for one thread); progress goes to stderr.

The timed statement materialises the grouped result in a temporary table (as a planner's
query would hand it on); the totals that are compared with LayerCast's are read from that
table afterwards, untimed.
"""

import argparse
import os
import sys
import time

import duckdb

VPC_COLUMNS = {
    "version": "INTEGER",
    "account_id": "VARCHAR",
    "interface_id": "VARCHAR",
    "srcaddr": "VARCHAR",
    "dstaddr": "VARCHAR",
    "srcport": "INTEGER",
    "dstport": "INTEGER",
    "protocol": "INTEGER",
    "packets": "BIGINT",
    "bytes": "BIGINT",
    "start": "BIGINT",
    "end": "BIGINT",
    "action": "VARCHAR",
    "log_status": "VARCHAR",
}

ZEEK_CONN_COLUMNS = {
    "ts": "DOUBLE",
    "uid": "VARCHAR",
    "id.orig_h": "VARCHAR",
    "id.orig_p": "INTEGER",
    "id.resp_h": "VARCHAR",
    "id.resp_p": "INTEGER",
    "proto": "VARCHAR",
    "service": "VARCHAR",
    "duration": "DOUBLE",
    "orig_bytes": "BIGINT",
    "resp_bytes": "BIGINT",
    "conn_state": "VARCHAR",
    "local_orig": "VARCHAR",
    "local_resp": "VARCHAR",
    "missed_bytes": "BIGINT",
    "history": "VARCHAR",
    "orig_pkts": "BIGINT",
    "orig_ip_bytes": "BIGINT",
    "resp_pkts": "BIGINT",
    "resp_ip_bytes": "BIGINT",
    "tunnel_parents": "VARCHAR",
}
# The JSON writer leaves unset fields out; these are the ones the generated log has.
ZEEK_JSON_COLUMNS = {
    k: v for k, v in ZEEK_CONN_COLUMNS.items()
    if k not in ("service", "local_orig", "local_resp", "tunnel_parents")
}

ALB_COLUMNS = {
    "type": "VARCHAR",
    "time": "TIMESTAMP",
    "elb": "VARCHAR",
    "client": "VARCHAR",
    "target": "VARCHAR",
    "request_processing_time": "DOUBLE",
    "target_processing_time": "DOUBLE",
    "response_processing_time": "DOUBLE",
    "elb_status_code": "INTEGER",
    "target_status_code": "VARCHAR",
    "received_bytes": "BIGINT",
    "sent_bytes": "BIGINT",
    "request": "VARCHAR",
    "user_agent": "VARCHAR",
    "ssl_cipher": "VARCHAR",
    "ssl_protocol": "VARCHAR",
    "target_group_arn": "VARCHAR",
    "trace_id": "VARCHAR",
    "domain_name": "VARCHAR",
    "chosen_cert_arn": "VARCHAR",
    "matched_rule_priority": "VARCHAR",
    "request_creation_time": "VARCHAR",
    "actions_executed": "VARCHAR",
    "redirect_url": "VARCHAR",
    "error_reason": "VARCHAR",
    "target_port_list": "VARCHAR",
    "target_status_code_list": "VARCHAR",
    "classification": "VARCHAR",
    "classification_reason": "VARCHAR",
}


def columns(spec: dict) -> str:
    return "{" + ", ".join(f"'{k}': '{v}'" for k, v in spec.items()) + "}"


def query(fmt: str, path: str) -> str:
    """The statement a planner would write: per entity and 10-second window, bytes, a count
    (packets; requests for ALB) and errors (rejects; 4xx/5xx for ALB; none for Zeek's L3)."""
    path = path.replace("'", "''")
    if fmt == "vpc-flow":
        source = f"""read_csv('{path}', delim = ' ', header = false, nullstr = '-',
                              columns = {columns(VPC_COLUMNS)})"""
        return f"""
            CREATE OR REPLACE TEMP TABLE w AS
            SELECT interface_id, start // 10 * 10 AS w,
                   sum(bytes) AS bytes, sum(packets) AS count,
                   sum(CASE WHEN action = 'REJECT' THEN 1 ELSE 0 END) AS errors
            FROM {source}
            GROUP BY ALL
        """
    if fmt in ("zeek-tsv", "zeek-json"):
        if fmt == "zeek-tsv":
            # `names` and `types` rather than `columns`: DuckDB 1.x's sniffer fails on a file
            # with `#` comment lines when `columns` is given.
            names = "[" + ", ".join(f"'{k}'" for k in ZEEK_CONN_COLUMNS) + "]"
            types = "[" + ", ".join(f"'{v}'" for v in ZEEK_CONN_COLUMNS.values()) + "]"
            source = f"""read_csv('{path}', delim = '\t', header = false, comment = '#',
                                  quote = '', escape = '', nullstr = '-',
                                  names = {names}, types = {types})"""
        else:
            source = f"""read_json('{path}', format = 'newline_delimited',
                                   columns = {columns(ZEEK_JSON_COLUMNS)})"""
        return f"""
            CREATE OR REPLACE TEMP TABLE w AS
            SELECT "id.orig_h", "id.resp_h", floor(ts / 10) * 10 AS w,
                   sum(orig_ip_bytes + resp_ip_bytes) AS bytes,
                   sum(orig_pkts + resp_pkts) AS count, sum(0) AS errors
            FROM {source}
            GROUP BY ALL
        """
    if fmt == "alb":
        source = f"""read_csv('{path}', delim = ' ', quote = '"', escape = '"', header = false,
                              columns = {columns(ALB_COLUMNS)})"""
        return f"""
            CREATE OR REPLACE TEMP TABLE w AS
            SELECT elb, target, floor(epoch(time) / 10) * 10 AS w,
                   sum(received_bytes + sent_bytes) AS bytes, count(*) AS count,
                   sum(CASE WHEN elb_status_code >= 400 THEN 1 ELSE 0 END) AS errors
            FROM {source}
            GROUP BY ALL
        """
    raise SystemExit(f"unknown format {fmt}")


def count_records(path: str) -> int:
    """Records of the file (every line but Zeek's `#` headers), counted untimed."""
    n = 0
    with open(path, "rb") as f:
        for line in f:
            n += not line.startswith(b"#")
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--format", default="vpc-flow")
    ap.add_argument("--file", required=True)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    size = os.path.getsize(args.file)
    records = count_records(args.file)
    sql = query(args.format, args.file)
    con = duckdb.connect()
    print(f"version={duckdb.__version__}")
    print(f"file_bytes={size}")
    for threads in [int(t) for t in args.threads.split(",")]:
        con.execute(f"SET threads = {threads}")
        best = float("inf")
        for run in range(1, args.runs + 1):
            t = time.perf_counter()
            con.execute(sql)
            took = time.perf_counter() - t
            best = min(best, took)
            print(f"duckdb {threads} thread(s) run {run}: {took:.3f} s, "
                  f"{size / took / 1e6:.0f} MB/s", file=sys.stderr)
        groups, data_groups, b, c, e = con.execute(
            "SELECT count(*), count(bytes), sum(bytes), sum(count), sum(errors) FROM w"
        ).fetchone()
        out = {
            "best_s": f"{best:.4f}",
            "records": records,
            "mb_per_s": f"{size / best / 1e6:.1f}",
            "records_per_s": f"{records / best:.0f}",
            "groups": groups,
            "groups_with_bytes": data_groups,
            "sum_bytes": b,
            "sum_count": c,
            "sum_errors": e,
        }
        for k, v in out.items():
            print(f"t{threads}_{k}={v}")


if __name__ == "__main__":
    main()
