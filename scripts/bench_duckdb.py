"""DuckDB's side of scripts/bench: what a planner would run on a VPC flow log instead of
LayerCast. Sums bytes, packets and rejects per interface per 10-second window with read_csv,
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

COLUMNS = {
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


def query(path: str) -> str:
    cols = ", ".join(f"'{k}': '{v}'" for k, v in COLUMNS.items())
    path = path.replace("'", "''")
    return f"""
        CREATE OR REPLACE TEMP TABLE w AS
        SELECT interface_id, start // 10 * 10 AS w,
               sum(bytes) AS bytes, sum(packets) AS packets,
               sum(CASE WHEN action = 'REJECT' THEN 1 ELSE 0 END) AS rejects
        FROM read_csv('{path}', delim = ' ', header = false, nullstr = '-',
                      columns = {{{cols}}})
        GROUP BY ALL
    """


def count_lines(path: str) -> int:
    """Lines of the file (every line is a record), counted untimed."""
    n = 0
    last = b"\n"
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            n += chunk.count(b"\n")
            last = chunk[-1:]
    return n + (last != b"\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--file", required=True)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    size = os.path.getsize(args.file)
    records = count_lines(args.file)
    sql = query(args.file)
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
        groups, data_groups, b, p, r = con.execute(
            "SELECT count(*), count(bytes), sum(bytes), sum(packets), sum(rejects) FROM w"
        ).fetchone()
        out = {
            "best_s": f"{best:.4f}",
            "records": records,
            "mb_per_s": f"{size / best / 1e6:.1f}",
            "records_per_s": f"{records / best:.0f}",
            "groups": groups,
            "groups_with_bytes": data_groups,
            "sum_bytes": b,
            "sum_packets": p,
            "sum_rejects": r,
        }
        for k, v in out.items():
            print(f"t{threads}_{k}={v}")


if __name__ == "__main__":
    main()
