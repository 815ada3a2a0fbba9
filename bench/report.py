#!/usr/bin/env python3
"""bench/report.py: the numbers and Markdown fragments of the benchmark sections.

  report.py latency LOGFILE...       pgbench per-transaction logs -> JSON members
                                     "n": .., "p50_ms": .., "p99_ms": ..
  report.py SECTION RUNS.jsonl OUT.md META.json
                                     the fragment of section create_order,
                                     get_order, lifecycle, defaults or router
                                     from its runs (defaults: its probe
                                     results too, in the file META.json names)
  report.py retention RUNS.jsonl OUT.md META.json
                                     RETENTION.md of bench/outbox_retention.sh:
                                     one line of RUNS.jsonl per scenario (its
                                     results), the run's facts in META.json

Every run is one line of RUNS.jsonl: its tags (contender, clients, round,
...), pgbench's tps (without connection time) and the latency percentiles
of its transactions.  A comparison takes, for each round, the ratio of the
subject's tps to the contender's tps measured in that same round (the
contenders of a round run back to back, interleaved), and reports the
median over the rounds; tps and latencies are medians over the rounds too.
Standard library only.
"""
import json
import math
import os
import re
import statistics
import sys
import time
from fractions import Fraction


def percentile(sorted_values, p):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def pct(values, p):
    """Percentile p of values (any order), interpolated between ranks (the
    standalone reports of notify_modes.sh and scale.sh import it)."""
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def latency(files):
    # pgbench --log lines: client_id transaction_no time_us script_no epoch us
    values = []
    for name in files:
        with open(name) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2].isdigit():
                    values.append(int(parts[2]))
    values.sort()
    if not values:
        sys.exit("no transactions in the logs")
    print('"n": %d, "p50_ms": %.4f, "p99_ms": %.4f'
          % (len(values), percentile(values, 50) / 1000.0, percentile(values, 99) / 1000.0))


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def ratio(runs, subject, other, key):
    """median over rounds of tps(subject) / tps(other), both in the same round"""
    by_round = {}
    for r in runs:
        if key(r):
            by_round.setdefault(r["round"], {})[r["contender"]] = r["tps"]
    rs = [d[subject] / d[other] for d in by_round.values()
          if subject in d and other in d and d[other] > 0]
    return med(rs)


def stat(runs, contender, key, field):
    return med([r[field] for r in runs if r["contender"] == contender and key(r)])


def contender_rows(out, runs, contenders, subject, key, ratio_label):
    """one row per contender: tps, p50, p99 and subject/contender"""
    for name, label in contenders:
        tps = stat(runs, name, key, "tps")
        if tps is None:
            continue
        rr = "" if name == subject else fmt(ratio(runs, subject, name, key), ".2f") + "x"
        out.append(f"| {label} | {tps:.0f} | {fmt(stat(runs, name, key, 'p50_ms'), '.2f')} | "
                   f"{fmt(stat(runs, name, key, 'p99_ms'), '.2f')} | {rr} |")


def sync_note(meta):
    sync = meta.get("synchronous_commit", "on")
    if sync == "on":
        return ("Section setting: none (`synchronous_commit = on`): every commit waits for its "
                "WAL flush, which on a slow disk dominates, the same for every contender.\n")
    return (f"**Section setting: `synchronous_commit = {sync}`**: a commit does not wait for "
            "its WAL to reach the disk (the WAL is still written, by the WAL writer). Every "
            "contender commits once per transaction, so waiting for the flush would add the same "
            "disk latency to each and hide the work each does; `BENCH_SYNCHRONOUS_COMMIT=on` "
            "measures with it.\n")


def header_rounds(meta):
    return (f"{meta['rounds']} round(s) of {meta['duration']} per contender, contenders "
            "interleaved round-robin (the starting contender rotates with the round); "
            "tps and latencies are medians over the rounds, ratios are the median of the "
            "per-round ratios.")


# ---------------------------------------------------------------------------
CREATE_CONTENDERS = [
    ("order_mgmt", "`order_mgmt.create_order`"),
    ("bare", "(a) one hand-written SQL statement"),
    ("plpgsql", "(b) PL/pgSQL peer"),
    ("orm", "(c) ORM-style, one INSERT per row"),
]


def create_order(runs, meta, out):
    out.append("## create_order: throughput and latency against the alternatives\n")
    out.append(
        "One pgbench transaction creates one order with its lines and its OrderCreated "
        "outbox row. Contenders, all writing the same rows (same columns, constraints and "
        "indexes, `order_mgmt`'s tables copied with `LIKE ... INCLUDING ALL`):\n")
    out.append("- `order_mgmt.create_order(command)`: the extension (C).")
    out.append("- (a) the practical limit: one hand-written statement (`bench/pgbench/"
               "create_order_bare.sql`: a CTE inserting the order, its lines from "
               "`jsonb_array_elements` and its event) into trigger-free copies of the tables "
               "(schema `bench_bare`), no validation at all.")
    out.append("- (b) the peer a team would otherwise write: `bench/peer_plpgsql.sql`, the same "
               "contract in PL/pgSQL (validation, ISO 4217 table, duplicate products, total "
               "check, limits, idempotent replay with a digest, `ON CONFLICT` on the cart, "
               "v1.0.0 event payload, UUIDv7 ids), its own copies of the tables.")
    out.append("- (c) the ORM way: a client transaction `BEGIN`, one `INSERT` for the order "
               "(`RETURNING` its id), one per line, one for the outbox row, `COMMIT`: one "
               "round trip per statement (unix socket), no validation.")
    out.append("")
    out.append(
        "(a), (b) and `create_order` take the same jsonb command, built in SQL by "
        "`bench.cart(n)` (fresh `gen_random_uuid()` ids; line i: quantity 1 + i % 3, unit "
        "price 100 x i); (c) sends the same values as statement parameters and SQL "
        f"expressions. pgbench `-M prepared`, 1 thread for 1 client, 2 threads otherwise. "
        f"{header_rounds(meta)} All order tables are emptied (TRUNCATE) before every run (one "
        "CHECKPOINT before the first). Latency: per-transaction pgbench log, p50 and p99.\n")
    out.append(sync_note(meta))
    lines_list = sorted({r["lines"] for r in runs})
    clients_list = sorted({r["clients"] for r in runs})
    out.append("### Summary: create_order tps / contender tps\n")
    out.append("Goal: at least 1.0x (a) and at least 1.3x (b) at every client count.\n")
    out.append("| cart | clients | vs (a) bare SQL | vs (b) PL/pgSQL | vs (c) ORM | goal |")
    out.append("| --- | ---: | ---: | ---: | ---: | --- |")
    for n in lines_list:
        for c in clients_list:
            key = (lambda r, n=n, c=c: r["lines"] == n and r["clients"] == c)
            ra = ratio(runs, "order_mgmt", "bare", key)
            rb = ratio(runs, "order_mgmt", "plpgsql", key)
            rc = ratio(runs, "order_mgmt", "orm", key)
            if ra is None and rb is None:
                continue
            goal = "met" if (ra is not None and rb is not None and ra >= 1.0 and rb >= 1.3) else "**not met**"
            out.append(f"| {n} lines | {c} | {fmt(ra, '.2f')}x | {fmt(rb, '.2f')}x | "
                       f"{fmt(rc, '.2f')}x | {goal} |")
    out.append("")
    for n in lines_list:
        out.append(f"### {n}-line cart\n")
        out.append("| clients | contender | tps | p50 ms | p99 ms | create_order / this |")
        out.append("| ---: | --- | ---: | ---: | ---: | ---: |")
        for c in clients_list:
            key = (lambda r, n=n, c=c: r["lines"] == n and r["clients"] == c)
            rows = []
            contender_rows(rows, runs, CREATE_CONTENDERS, "order_mgmt", key, "")
            out.extend(f"| {c} " + row for row in rows)
        out.append("")


# ---------------------------------------------------------------------------
def get_order(runs, meta, out):
    out.append("## get_order: reading an order as JSON\n")
    out.append(
        f"`order_mgmt.get_order(id)` against a hand-written query building the same JSON "
        f"(`bench/pgbench/get_order_sql.sql`: `jsonb_build_object` over the order row and "
        f"`jsonb_agg` over its lines `ORDER BY line_no`, optional keys added when set). "
        f"{meta['orders']} stored orders of 1 to 5 lines (a tenth completed, a tenth cancelled, "
        f"a quarter with a paymentAuthorizationId; inserted directly, as the order functions "
        f"would have stored them), then VACUUM ANALYZE and CHECKPOINT; each transaction reads one random order (its id looked up "
        f"by number in a side table, the same way for both). Before timing, both answers "
        f"were compared for {meta['checked']} orders: {meta['mismatches']} differ. "
        f"{header_rounds(meta)} pgbench `-M prepared`.\n")
    contenders = [("order_mgmt", "`order_mgmt.get_order`"), ("sql", "hand-written SQL")]
    out.append("| clients | contender | tps | p50 ms | p99 ms | get_order / this |")
    out.append("| ---: | --- | ---: | ---: | ---: | ---: |")
    for c in sorted({r["clients"] for r in runs}):
        rows = []
        contender_rows(rows, runs, contenders, "order_mgmt", lambda r, c=c: r["clients"] == c, "")
        out.extend(f"| {c} " + row for row in rows)
    out.append("")


# ---------------------------------------------------------------------------
def lifecycle(runs, meta, out):
    out.append("## Lifecycle: cancel_order and complete_order\n")
    out.append(
        "Each transaction moves one CREATED order to its final state; every transaction "
        "of a run takes an order of its own (numbered per client in a side table: "
        "client c's k-th transaction takes order number base + c x per-client + k), so no "
        "two transactions touch the same order. Contenders:\n")
    out.append("- `order_mgmt.cancel_order(id, 'CUSTOMER_REQUESTED')` and "
               "`order_mgmt.complete_order(id)`;")
    out.append("- the direct path: `UPDATE order_mgmt.orders SET status = 'COMPLETED' WHERE "
               "order_id = ...` (the guard trigger bumps the version, stamps the time and "
               "writes the event);")
    out.append("- the limit: one hand-written statement on trigger-free copies of the tables "
               "(`bench_bare`): a CTE `UPDATE ... SET status, version + 1, completed_at "
               "WHERE status = 'CREATED' RETURNING ...` feeding the outbox `INSERT` "
               "(`bench/pgbench/complete_bare.sql`).")
    out.append("")
    out.append(
        f"The orders ({meta['orders']} in all, every run's own) are inserted before the "
        f"first run, then VACUUM ANALYZE and CHECKPOINT. Each run is a fixed number of "
        f"transactions per client (pgbench `-t`: {meta['per_client']}), "
        f"{meta['rounds']} round(s), contenders interleaved round-robin (rotating start); "
        "tps and latencies are medians over the rounds, ratios the median of the per-round "
        "ratios. pgbench `-M prepared`.\n")
    out.append(sync_note(meta))
    contenders = [
        ("cancel", "`cancel_order`"),
        ("complete", "`complete_order`"),
        ("update", "direct `UPDATE ... SET status = 'COMPLETED'`"),
        ("bare", "limit: bare UPDATE + outbox INSERT"),
    ]
    out.append("| clients | contender | tps | p50 ms | p99 ms | this / limit |")
    out.append("| ---: | --- | ---: | ---: | ---: | ---: |")
    for c in sorted({r["clients"] for r in runs}):
        key = (lambda r, c=c: r["clients"] == c)
        for name, label in contenders:
            tps = stat(runs, name, key, "tps")
            if tps is None:
                continue
            rr = "" if name == "bare" else fmt(ratio(runs, name, "bare", key), ".2f") + "x"
            out.append(f"| {c} | {label} | {tps:.0f} | {fmt(stat(runs, name, key, 'p50_ms'), '.2f')} | "
                       f"{fmt(stat(runs, name, key, 'p99_ms'), '.2f')} | {rr} |")
    out.append("")


# ---------------------------------------------------------------------------
DEFAULTS_LABELS = {
    "create_order": "`create_order`, defaults",
    "bare": "one-statement CTE",
    "off": "`create_order`, notifications = off",
    "in_process": "`create_order`, notifications = in_process",
}


def defaults_label(name):
    if name.startswith("delay"):
        return f"`create_order`, notify_batch_delay = {name[5:]} ms"
    return DEFAULTS_LABELS.get(name, name)


def delay_stats(probes):
    d = sorted(x for p in probes for x in p["probe"]["delays_ms"])
    return {"n": len(d), "orders": sum(p["probe"]["probe_orders"] for p in probes),
            "p50": percentile(d, 50) if d else None, "p90": percentile(d, 90) if d else None,
            "p99": percentile(d, 99) if d else None, "max": d[-1] if d else None}


def defaults(runs, meta, out):
    with open(meta["probe_file"]) as f:
        probes = [json.loads(line) for line in f if line.strip()]
    contenders = []
    for r in runs:
        if r["contender"] not in contenders:
            contenders.append(r["contender"])
    contenders.sort(key=lambda c: (c != "create_order", c != "bare", c))
    variants = [c for c in contenders if c not in ("create_order", "bare")]
    clients_list = sorted({r["clients"] for r in runs})
    rounds = sorted({r["round"] for r in runs})

    def tps(c, n, rnd):
        return next((r["tps"] for r in runs if r["contender"] == c and r["clients"] == n
                     and r["round"] == rnd), None)

    def round_ratios(c, n):
        rs = []
        for rnd in rounds:
            a, b = tps(c, n, rnd), tps("bare", n, rnd)
            if a is not None and b:
                rs.append(a / b)
        return rs

    def mean(v):
        return statistics.mean(v) if v else None

    out.append("## defaults: create_order with only the preload set, a listener connected\n")
    out.append(
        "The server runs with nothing of order_mgmt's set but `shared_preload_libraries = "
        "'order_mgmt'`: `bench/bench.conf` **without its order_mgmt lines** ("
        + ", ".join(f"`{l.strip()}`" for l in meta["omitted"]) +
        " left out), plus `shared_preload_libraries = 'order_mgmt'` and "
        "`synchronous_commit = on` (every commit waits for its WAL flush). Before timing, "
        "the section checked that `pg_settings` shows no order_mgmt setting from anywhere "
        "but its default, and that the launcher started the notify worker of database "
        "`bench`. The order_mgmt settings in force:\n")
    out.append("```\n" + "\n".join(meta["settings"]) + "\n```\n")
    out.append(
        "A listener (`bench/lib/listener_probe.py`, psycopg) stays connected for the whole "
        "section, LISTENing on `order_created`, `order_completed` and `order_cancelled`. In "
        "every run its writer process also creates one order every 50 ms and notes when "
        "each COMMIT returned; the **wake-up delay** is the time from there to the "
        "listener receiving that order's notification. After each run the probe reads the "
        "ids of every event in `order_mgmt.outbox` (emptied before the run) and waits until "
        "each was heard: **exactly once** means none missing, none unknown, no duplicate.\n")
    out.append(
        "Contenders: `order_mgmt.create_order` of a 3-line cart (`bench/pgbench/"
        "create_order.sql`) and the one-statement CTE writing the same rows into "
        "trigger-free copies of the tables, validating nothing and notifying nobody "
        "(`bench/pgbench/create_order_bare.sql`), both fed by `bench.cart(3)`"
        + (", and, looking into the numbers (`DEFAULTS_VARIANTS`), create_order with one "
           "setting changed: " + ", ".join(defaults_label(v) for v in variants)
           if variants else "") +
        f". {meta['rounds']} round(s) of {meta['duration']} per contender and client count, "
        "contenders interleaved (the first rotates with the round), tables emptied "
        "(TRUNCATE) before every run, pgbench `-M prepared`, 2 threads. A ratio is "
        "create_order's tps over the CTE's in the same round; the mean is the mean of the "
        "per-round ratios. The probe's writer (20 orders/s) runs in every run, the CTE's "
        "too.\n")
    out.append("### Summary\n")
    out.append("Goal (issue 10): create_order at least 1.0x the CTE at 4 and 16 clients, and the "
               "listener's median wake-up under 10 ms.\n")
    out.append("| clients | create_order tps | CTE tps | create_order / CTE (mean) | wake-up "
               "median ms | wake-up p99 ms | exactly once | goal |")
    out.append("| ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    for n in clients_list:
        rr = mean(round_ratios("create_order", n))
        mine = [p for p in probes if p["contender"] == "create_order" and p["clients"] == n]
        ds = delay_stats(mine)
        once = all(p["probe"]["missing"] == 0 and p["probe"]["unknown"] == 0
                   and p["probe"]["duplicates"] == 0 for p in mine)
        goal = "met" if (rr is not None and rr >= 1.0 and ds["p50"] is not None
                         and ds["p50"] < 10 and once) else "**not met**"
        out.append(
            f"| {n} | {fmt(mean([tps('create_order', n, r) for r in rounds if tps('create_order', n, r)]), '.0f')} "
            f"| {fmt(mean([tps('bare', n, r) for r in rounds if tps('bare', n, r)]), '.0f')} "
            f"| {fmt(rr, '.2f')}x | {fmt(ds['p50'], '.2f')} | {fmt(ds['p99'], '.2f')} | "
            f"{'yes' if once else '**no**'} | {goal} |")
    out.append("")
    out.append("### Per round (tps; load = 1-minute load average when the run started)\n")
    cols = ["create_order", "bare"] + variants
    out.append("| clients | round | " + " | ".join(defaults_label(c) for c in cols) +
               " | " + " | ".join(f"{defaults_label(c)} / CTE" for c in cols if c != "bare") +
               " | load |")
    out.append("| ---: | ---: | " + " | ".join("---:" for _ in cols) + " | " +
               " | ".join("---:" for c in cols if c != "bare") + " | ---: |")
    for n in clients_list:
        for rnd in rounds:
            vals = [tps(c, n, rnd) for c in cols]
            b = tps("bare", n, rnd)
            ratios = [fmt(tps(c, n, rnd) / b if b and tps(c, n, rnd) else None, ".2f") + "x"
                      for c in cols if c != "bare"]
            loads = [r["load1"] for r in runs if r["clients"] == n and r["round"] == rnd]
            out.append(f"| {n} | {rnd} | " + " | ".join(fmt(v, ".0f") for v in vals) + " | " +
                       " | ".join(ratios) + f" | {fmt(mean(loads), '.2f')} |")
        out.append(f"| {n} | **mean** | " +
                   " | ".join(fmt(mean([tps(c, n, r) for r in rounds if tps(c, n, r)]), ".0f")
                              for c in cols) + " | " +
                   " | ".join("**" + fmt(mean(round_ratios(c, n)), ".2f") + "x**"
                              for c in cols if c != "bare") + " | |")
    out.append("")
    out.append("### Wake-up delay and exactly once, per contender and client count\n")
    out.append("Wake-up: the probe writer's orders of every round. Events: every event committed "
               "during the runs (pgbench's and the probe's), all of them in the outbox; heard: "
               "distinct event ids the listener received; heard per read: notifications per read "
               "of the listener's socket that brought any (how many arrived together). Worker "
               "sent / in-process: the "
               "notification queue's counters over the runs (`notification_queue()`: sent by "
               "the worker; transactions that found the queue full and notified in-process).\n")
    out.append("| contender | clients | probe orders | announced | median ms | p90 ms | p99 ms | "
               "max ms | events | heard | missing | unknown | duplicates | heard per read | worker sent | "
               "in-process |")
    out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
               "| ---: | ---: | ---: | ---: |")
    for c in cols:
        for n in clients_list:
            mine = [p for p in probes if p["contender"] == c and p["clients"] == n]
            if not mine:
                continue
            ds = delay_stats(mine)
            tot = {k: sum(p["probe"].get(k, 0) for p in mine)
                   for k in ("expected", "received", "missing", "unknown", "duplicates", "wakeups")}
            per_read = tot["received"] / tot["wakeups"] if tot["wakeups"] else None
            out.append(
                f"| {defaults_label(c)} | {n} | {ds['orders']} | {ds['n']} | {fmt(ds['p50'], '.2f')} | "
                f"{fmt(ds['p90'], '.2f')} | {fmt(ds['p99'], '.2f')} | {fmt(ds['max'], '.2f')} | "
                f"{tot['expected']} | {tot['received']} | {tot['missing']} | {tot['unknown']} | "
                f"{tot['duplicates']} | {fmt(per_read, '.1f')} | {sum(p['worker_sent'] for p in mine)} | "
                f"{sum(p['overflows'] for p in mine)} |")
    out.append("")
    maint = ", ".join(f"{t}: {r} run(s), {f} failed" for t, r, f in meta["maintenance"]) or "none"
    out.append(f"Maintenance worker runs during the section (defaults: every 60 s): {maint}. "
               f"Load average (1, 5, 15 min) at the first run: {meta['load_start']}; after the "
               f"last: {meta['load_end']}. Timed part: {meta['seconds']} s.\n")


# ---------------------------------------------------------------------------
ROUTER_CONTENDERS = {
    "create_direct": "`create_order` direct on shard A",
    "create_routed": "`create_order` through the router (to shard A)",
    "get_direct": "`get_order` direct on shard A",
    "get_routed": "`get_order` through the router (from shard A)",
    "one_instance": "router, 1 shard instance (all 4 partitions)",
    "two_instances": "router, 2 shard instances (2 partitions each)",
}


def added_ms(runs, subject, other, key):
    """median over rounds of p50(subject) - p50(other), both in the same round"""
    by_round = {}
    for r in runs:
        if key(r):
            by_round.setdefault(r["round"], {})[r["contender"]] = r["p50_ms"]
    return med([d[subject] - d[other] for d in by_round.values() if subject in d and other in d])


def router(runs, meta, out):
    out.append("## Router: the cost of a routed call\n")
    out.append(
        f"Three servers on this one machine, each a fresh throwaway server with the settings "
        f"below, all on unix sockets: **shard A** (database `bench`: `order_mgmt`, "
        f"`assign_partitions(4, '{{0,2}}')`; database `single`: `order_mgmt`, "
        f"`assign_partitions(4, '{{0,1,2,3}}')`), **shard B** (`bench`: "
        f"`assign_partitions(4, '{{1,3}}')`) and the **router** (PL/Proxy {meta['plproxy']}, "
        f"`CREATE EXTENSION order_mgmt_router CASCADE`; database `bench`: server "
        f"`order_mgmt_cluster` with p0 and p2 on shard A's `bench`, p1 and p3 on shard B's; "
        f"database `single`: p0 to p3 all on shard A's `single`; a user mapping for PUBLIC). "
        f"The client (pgbench, `-M prepared`, 1 thread for 1 client, 2 otherwise) runs on the "
        f"same machine. Contenders:\n")
    out.append("- `create_order` of a 3-line cart (`bench/pgbench/create_order.sql`, "
               "`bench.cart` of `bench/setup.sql`), **direct** on shard A against the same call "
               "**through the router**. A shard refuses carts it does not hold (OM002), so both "
               "take carts of partitions 0 and 2 only: `bench.cart` with `partitions = 4`, "
               "`held = {0,2}` draws cart ids until one falls in a held partition (2 draws "
               "on average), in the statement pgbench sends, the same call for both; every "
               "routed call thus goes to shard A, and the two differ only by the hop through "
               "the router (its backend builds the cart and PL/Proxy forwards it).")
    out.append(f"- `get_order` of a random one of {meta['orders']} orders (1 to 5 lines) "
               f"created on shard A before the reads (`bench/pgbench/get_order.sql`, the ids in "
               f"a side table copied to the router, looked up the same way on both), **direct** "
               f"on shard A against **through the router**. Before timing, both answers were "
               f"compared for {meta['checked']} orders: {meta['mismatches']} differ.")
    out.append("- Throughput **through the router** with carts of every partition: with **one "
               "shard instance** holding all 4 partitions (router database `single`) and with "
               "**two instances** holding 2 each (router database `bench`). **On this 2-core "
               "machine this is no scaling claim**: the router, both shards and pgbench share "
               "the same two cores, so a second instance adds no CPU; what it shows is what "
               "routing to two servers costs, or saves, against one.")
    out.append("")
    out.append(
        f"{header_rounds(meta)} The create_order contenders run in the same rounds, the "
        "get_order contenders in rounds of their own after them (on the orders they read). "
        "Before every create_order run the order tables of the three shard databases are "
        "emptied (TRUNCATE; "
        "one CHECKPOINT before the first run); after it, the orders stored in each shard "
        "database are counted and must be exactly the run's transactions, where the "
        f"contender sends them (checked in every run: {meta['count_checks']}). A router "
        "backend opens its connection to each shard at its first call, inside the timed "
        "run (once per client and shard: a few ms in a run of seconds).\n")
    out.append(sync_note(meta))
    clients_list = sorted({r["clients"] for r in runs})
    out.append("### Summary\n")
    out.append("Routed / direct: tps through the router over tps direct, median of the per-round "
               "ratios (below 1.00x: the routed call is slower); added p50: the routed call's "
               "median latency minus the direct one's, median over the rounds.\n")
    out.append("| clients | create_order routed / direct | added p50 ms | get_order routed / direct "
               "| added p50 ms | router: 2 instances / 1 |")
    out.append("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for c in clients_list:
        key = (lambda r, c=c: r["clients"] == c)
        out.append(
            f"| {c} | {fmt(ratio(runs, 'create_routed', 'create_direct', key), '.2f')}x | "
            f"{fmt(added_ms(runs, 'create_routed', 'create_direct', key), '.3f')} | "
            f"{fmt(ratio(runs, 'get_routed', 'get_direct', key), '.2f')}x | "
            f"{fmt(added_ms(runs, 'get_routed', 'get_direct', key), '.3f')} | "
            f"{fmt(ratio(runs, 'two_instances', 'one_instance', key), '.2f')}x |")
    out.append("")
    groups = [
        ("Direct and routed calls", [("create_direct", None), ("create_routed", "create_direct"),
                                     ("get_direct", None), ("get_routed", "get_direct")],
         "routed / direct"),
        ("Through the router: one shard instance or two (2 cores: the router's cost, not "
         "scaling)", [("one_instance", None), ("two_instances", "one_instance")],
         "2 instances / 1"),
    ]
    for title, contenders, ratio_label in groups:
        out.append(f"### {title}\n")
        out.append(f"| clients | contender | tps | p50 ms | p99 ms | {ratio_label} |")
        out.append("| ---: | --- | ---: | ---: | ---: | ---: |")
        for c in clients_list:
            key = (lambda r, c=c: r["clients"] == c)
            for name, other in contenders:
                tps = stat(runs, name, key, "tps")
                if tps is None:
                    continue
                rr = "" if other is None else fmt(ratio(runs, name, other, key), ".2f") + "x"
                out.append(f"| {c} | {ROUTER_CONTENDERS[name]} | {tps:.0f} | "
                           f"{fmt(stat(runs, name, key, 'p50_ms'), '.2f')} | "
                           f"{fmt(stat(runs, name, key, 'p99_ms'), '.2f')} | {rr} |")
        out.append("")
    out.append("### Machine and settings\n")
    out.append(meta["machine"])
    out.append("")
    out.append(f"The settings of all three servers (`bench/bench.conf`, then the section's "
               f"`synchronous_commit = {meta['synchronous_commit']}`), as shard A shows them:\n")
    out.append(meta["settings"])
    out.append("")
    out.append(f"Timed part: {meta['seconds']} s.\n")


# ---------------------------------------------------------------------------
def pretty(x):
    """bytes made readable, as `numfmt --to=iec-i --suffix=B --format=%.1f`
    prints them (rounded up: 1025 is 1.1KiB); "X B" when X is no number"""
    s = str(x)
    if not re.fullmatch(r"\d+(\.\d+)?|\.\d+", s):
        return f"{s} B"
    v, p = Fraction(s), 0
    while v >= 1024 and p < 8:
        v, p = v / 1024, p + 1
    scale = 10 if p else 1
    v = Fraction(math.ceil(v * scale), scale)
    if v >= 1024:
        v, p = v / 1024, p + 1
    return f"{float(v):.1f}{['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei', 'Zi', 'Yi'][p]}B"


def num(s):
    """the number a string starts with, 0 if none (as awk reads it)"""
    m = re.match(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", str(s))
    return float(m.group(0)) if m else 0.0


def av_stats(lines, db, table):
    """the autovacuum runs a server log (its lines) shows for order_mgmt.TABLE
    of DB: runs, mean seconds between runs ("-" below two runs), most dead
    item identifiers one run removed, most tuples dead but not yet removable"""
    head = f'automatic vacuum of table "{db}.order_mgmt.{table}":'
    n, gap, last, cur, di, nr = 0, 0.0, 0.0, False, 0, 0
    for line in lines:
        if head in line:
            f = line.split()
            t = (f[1] if len(f) > 1 else "").split(":") + ["", "", ""]
            s = num(t[0]) * 3600 + num(t[1]) * 60 + num(t[2])  # log_line_prefix: %m first
            if n:
                gap += s - last
            last, n, cur = s, n + 1, True
        elif cur and line.startswith("\t"):
            m = re.search(r"[0-9]+ are dead but not yet removable", line)
            nr = max(nr, int(num(m.group(0)))) if m else nr
            m = re.search(r"[0-9]+ dead item identifiers", line)
            di = max(di, int(num(m.group(0)))) if m else di
        else:
            cur = False
    return {"runs": str(n), "interval": format(gap / (n - 1), ".0f") if n > 1 else "-",
            "dead_items": str(di), "not_removable": str(nr)}


def retention(runs, meta, out):
    scs = [sc for sc in ("A", "B") if sc in meta["scenarios"].split()]
    res = {r["scenario"]: r for r in runs}
    # the autovacuum runs of each scenario's outbox and event_feed, from the server log
    with open(os.path.join(meta["results_dir"], "server.log"), encoding="latin-1") as f:
        log_lines = f.read().split("\n")
    for sc in scs:
        for table, short in (("outbox", "outbox"), ("event_feed", "feed")):
            for k, x in av_stats(log_lines, f"bench_{sc.lower()}", table).items():
                res.setdefault(sc, {})[f"av_{short}_{k}"] = x

    def raw(sc, k):
        return res.get(sc, {}).get(k, "")

    def v(sc, k):
        return raw(sc, k) or "-"

    def vb(sc, k):
        return pretty(raw(sc, k)) if raw(sc, k) else "-"

    def cells(*keys):
        """one cell per scenario run: the KEYs' values joined by " / "; a
        KEY "(k)" adds " (value)", a KEY "b:k" its value in bytes, readable"""
        out = ""
        for sc in scs:
            cell = ""
            for k in keys:
                if k.startswith("b:"):
                    cell += " / " + vb(sc, k[2:])
                elif k.startswith("(") and k.endswith(")"):
                    cell += f" ({v(sc, k[1:-1])})"
                else:
                    cell += " / " + v(sc, k)
            out += f" {cell.removeprefix(' / ').removeprefix(' ')} |"
        return out

    keep, settle = meta["keep"], meta["settle"]
    # one paragraph reading the figures
    reading = ""
    for sc in scs:
        name = "CDC only" if sc == "A" else "with a polling consumer"
        R = lambda k: raw(sc, k)  # noqa: E731
        h1, h2 = int(R("max_bytes_first_half") or 0), int(R("max_bytes_second_half") or 0)
        ev, rate = R("events"), R("events_per_s")
        window = int(rate or 0) * int(keep.split(" ")[0])
        d, r = num(R("max_outbox_dead")), num(rate)
        dead_s = format(d / r, ".0f") if r > 0 else "-"
        rows, mb = R("max_outbox_rows"), pretty(R("max_outbox_bytes"))
        if int(R("elapsed").rsplit(".", 1)[0]) < 120:
            verdict = (f"cannot be judged: the load lasted {R('elapsed')} s, too short beside the "
                       f"{keep} retention window and the 60 s autovacuum naptime (at most {rows} "
                       f"rows, {mb}, for {ev} events written)")
        elif int(rows) < int(ev) // 10 and h2 <= h1 * 3 // 2 + 1048576:
            verdict = (f"stayed bounded: at most {rows} rows for {ev} events written (about {window} "
                       f"rows is the {keep} retention window at {rate} events/s), and at most {mb}, "
                       f"no larger in the second half of the load ({pretty(h2)}) than in the first "
                       f"({pretty(h1)}) give or take 50%")
        else:
            verdict = (f"did NOT stay bounded: it reached {rows} rows ({mb}) for {ev} events written "
                       f"(the {keep} retention window is about {window} rows at {rate} events/s); its "
                       f"largest size in the first half of the load was {pretty(h1)}, in the second "
                       f"half {pretty(h2)}")
        reading += f"In scenario {sc} ({name}) the outbox {verdict}. "
        if num(R("other_running")) >= 0.5:
            reading += (f"This scenario shared the machine with other work (on average "
                        f"{R('other_running')} other processes running at each sample, load average "
                        f"{R('load_avg')} mean / max on {meta['cpus']} CPUs): its throughput says "
                        "little about the extension, and its event rate varied over the run. ")
        if int(R("av_outbox_runs") or 0) > 0:
            reading += (f"Its size is set by the dead rows left between two autovacuums rather than "
                        f"by the live ones: n_dead_tup peaked at {R('max_outbox_dead')} (about "
                        f"{dead_s} s of events); autovacuum ran on it {R('av_outbox_runs')} times, "
                        f"every {R('av_outbox_interval')} s on average (autovacuum_naptime is 60 s, "
                        "and the table's threshold of 10000 dead rows is reached within seconds, so "
                        "the naptime sets the pace), and never found more than "
                        f"{R('av_outbox_not_removable')} tuples dead but not yet removable. ")
        else:
            reading += (f"Autovacuum never ran on it during the run; n_dead_tup peaked at "
                        f"{R('max_outbox_dead')} (about {dead_s} s of events). ")
        reading += (f"At the end of the load it held {R('load_end_rows')} rows and "
                    f"{R('load_end_dead')} dead tuples; after the drain and {settle} s more it held "
                    f"{R('outbox_rows')} rows, n_live_tup {R('outbox_live')} / n_dead_tup "
                    f"{R('outbox_dead')}, in {R('outbox_size')} (heap {R('outbox_heap')}). ")
        if sc == "B":
            reading += (f"The event_feed peaked at {pretty(R('max_feed_bytes'))} (n_dead_tup at most "
                        f"{R('max_feed_dead')}) and ended at {R('feed_rows')} rows in "
                        f"{R('feed_size')} (n_dead_tup {R('feed_dead')}). The consumer kept up: its "
                        f"backlog peaked at {R('max_backlog')} events and its lag was {R('lag')} at "
                        f"the end; it received {R('seen_ids')} distinct events of {R('events')} "
                        f"written, with {R('duplicates')} duplicates and {R('missing')} missing. ")
        else:
            reading += (f"The slot's lag peaked at {pretty(R('max_slot_lag'))} and pg_wal at "
                        f"{pretty(R('max_wal'))}; the CDC stream carried {R('cdc_events')} outbox "
                        f"inserts ({R('cdc_distinct')} distinct event ids) for {R('events')} events "
                        "written. ")
    log = meta["log"]
    reading += (f"The server log has {log['errors']} ERROR/FATAL/PANIC lines, {log['warnings']} "
                f"warnings and {log['lockwaits']} lock waits over deadlock_timeout.")

    out.append("# The bounded outbox: retention under load\n")
    out.append(f"Written by `bench/outbox_retention.sh` on "
               f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} ({meta['total_orders']} "
               "orders per scenario).")
    out.append("It uses the order_mgmt installed on the machine (it never builds or installs it).")
    out.append(f"CSVs (one sample every {meta['sample_every']} s), pgbench output, the purge and "
               "consumer logs and the")
    out.append(f"server log of this run were kept in `{meta['results_dir']}`.\n")
    out.append("## Machine and server\n")
    out.append(meta["machine"])
    out.append(f"- kernel {os.uname().release}")
    out.append("- a throwaway cluster (initdb, unix socket only), the settings of `test/test.conf` and")
    out.append(f"  `shared_buffers = 256MB`; everything else at its default ({meta['av_settings']}).")
    out.append("  `log_autovacuum_min_duration = 0` and `log_lock_waits = on` only add log lines.")
    out.append("- settings from the configuration file:\n")
    out.append(meta["settings"] + "\n")
    out.append("## What runs\n")
    out.append("Each scenario runs in a new database with a new `CREATE EXTENSION order_mgmt`:\n")
    out.append(f"- **load**: `pgbench -n -M prepared -c {meta['clients']} -j {meta['threads']} -t "
               f"{meta['per_client']} {meta['cart_vars']}` with the script below (its")
    out.append("  order statement is `bench/pgbench/create_order.sql`, over `bench.cart` of "
               "`bench/setup.sql`): one script")
    out.append("  run creates one 3-line order (its own transaction); 10% of the orders are then "
               "completed and 10%")
    out.append("  cancelled, each in a transaction of its own. So about 1.2 events per order.")
    out.append(f"- **purge**: a loop calling `SELECT order_mgmt.purge_events('{keep}')` with a 1 s "
               "sleep between calls.")
    out.append("- **A, CDC only**: no polling consumer; a logical slot (wal2json) drained by "
               "`pg_recvlogical --start -f -")
    out.append("  -o format-version=2 -o add-tables=order_mgmt.outbox -o actions=insert`; the event "
               "ids in the stream are counted.")
    out.append("- **B, with a polling consumer**: `register_consumer('bench')` before the load; one "
               "psql session loops on")
    out.append(f"  `BEGIN; fetch_events('bench', {meta['batch']})` (each event inserted into a table "
               "`bench_seen`),")
    out.append("  `ack_events('bench', <last seq>); COMMIT`, sleeping 0.1 s when a batch is not full.")
    out.append("- **after the load**: the loops run on until the events are drained (A: the slot "
               "confirmed the WAL")
    out.append("  position at the end of the load; B: every event sequenced and acknowledged), then "
               f"{settle} s more; then")
    out.append("  they stop, `pg_stat_force_next_flush()`, 2 s wait, final measures.\n")
    out.append("```\n" + meta["pgbench_script"] + "\n```\n")
    out.append("## Results\n")
    out.append("| |" + "".join(" A: CDC only |" if sc == "A" else " B: polling consumer |"
                                for sc in scs))
    out.append("| --- |" + " ---: |" * len(scs))
    rows = [
        ("orders created", ["orders"]),
        ("of which completed / cancelled", ["completed", "cancelled"]),
        ("events written (outbox_position_seq)", ["events"]),
        ("pgbench elapsed (s)", ["elapsed"]),
        ("orders/s (events/s)", ["orders_per_s", "(events_per_s)"]),
        ("load average (1 min) during the load: mean / max", ["load_avg"]),
        ("other processes running (not this benchmark's), mean over the samples", ["other_running"]),
        ("pgbench latency average", ["latency"]),
        ("pgbench failed transactions / exit code", ["failed", "pgbench_rc"]),
        ("**max outbox rows seen** (samples)", ["max_outbox_rows"]),
        ("**max outbox total size seen**", ["b:max_outbox_bytes"]),
        ("max outbox n_dead_tup seen", ["max_outbox_dead"]),
        ("outbox at end of load: rows / total size / n_dead_tup",
         ["load_end_rows", "b:load_end_bytes", "load_end_dead"]),
        ("drain after the load (s)", ["drain_s", "(drained_note)"]),
        ("**final outbox rows**", ["outbox_rows"]),
        ("**final outbox total size** (heap)", ["outbox_size", "(outbox_heap)"]),
        ("**final outbox n_live_tup / n_dead_tup**", ["outbox_live", "outbox_dead"]),
        ("outbox autovacuum runs (pg_stat)", ["outbox_av"]),
        ("outbox autovacuums logged / mean interval (s)", ["av_outbox_runs", "av_outbox_interval"]),
        ('outbox: most dead item ids one autovacuum removed / most "dead but not yet removable"',
         ["av_outbox_dead_items", "av_outbox_not_removable"]),
        ("max event_feed total size seen", ["b:max_feed_bytes"]),
        ("max event_feed n_dead_tup seen", ["max_feed_dead"]),
        ("final event_feed rows / total size", ["feed_rows", "feed_size"]),
        ("final event_feed n_live_tup / n_dead_tup", ["feed_live", "feed_dead"]),
        ("event_feed autovacuum runs (pg_stat)", ["feed_av"]),
        ("event_feed autovacuums logged / mean interval (s)", ["av_feed_runs", "av_feed_interval"]),
        ('event_feed: most dead item ids one autovacuum removed / most "dead but not yet removable"',
         ["av_feed_dead_items", "av_feed_not_removable"]),
        ("purge calls / errors", ["purge_calls", "purge_errors"]),
        ("rows purged", ["purge_removed"]),
        ("purge_events ms: mean / max (p95)", ["purge_ms", "(purge_ms_p95)"]),
        ("orders + order_lines size", ["orders_size"]),
        ("max pg_wal size seen / at the end", ["b:max_wal", "wal_size"]),
    ]
    out.extend(f"| {label} |{cells(*keys)}" for label, keys in rows)
    if "A" in scs:
        out.append("\nScenario A, CDC:\n")
        out.append("| | |\n| --- | ---: |")
        out.append(f"| max slot lag seen (pg_current_wal_lsn - confirmed_flush_lsn) | "
                   f"{vb('A', 'max_slot_lag')} |")
        out.append(f"| outbox inserts in the wal2json stream / distinct event ids | "
                   f"{v('A', 'cdc_events')} / {v('A', 'cdc_distinct')} |")
        out.append(f"| events written | {v('A', 'events')} |")
    if "B" in scs:
        b = lambda *ks: " / ".join(v("B", k) for k in ks)  # noqa: E731
        out.append("\nScenario B, the polling consumer:\n")
        out.append("| | |\n| --- | ---: |")
        out.append(f"| events written (outbox_position_seq) | {b('events')} |")
        out.append("| events received (rows in bench_seen) / distinct ids / distinct positions | "
                   f"{b('seen', 'seen_ids', 'seen_positions')} |")
        out.append(f"| **duplicates / missing** | **{b('duplicates', 'missing')}** |")
        out.append(f"| final acked_seq / event_feed_seq | {b('acked', 'feed_seq')} |")
        out.append(f"| **final consumer lag** (max feed seq - acked) | **{b('lag')}** |")
        out.append("| max consumer lag seen / max backlog seen (written - acked) | "
                   f"{b('max_lag', 'max_backlog')} |")
        out.append("| batches / non-empty / mean events per non-empty batch / largest | "
                   f"{b('batches', 'batches_nonempty', 'batch_avg_n', 'batch_max_n')} |")
        out.append("| fetch+record ms: mean / p50 / p95 / max | "
                   f"{b('fetch_avg', 'fetch_p50', 'fetch_p95', 'fetch_max')} |")
        out.append(f"| fetch+record ms, mean of full ({meta['batch']}-event) batches | "
                   f"{b('fetch_full_avg')} |")
        out.append(f"| consumer session exit code | {b('consumer_rc')} |")
    out.append(f"\nServer log: {log['errors']} ERROR/FATAL/PANIC lines, {log['warnings']} WARNING "
               f"lines, {log['lockwaits']} lock waits over")
    out.append(f"deadlock_timeout; autovacuum of the outbox logged {log['av_outbox']} times, of "
               f"event_feed {log['av_feed']} times.")
    if log["error_lines"]:
        out.append("\n```\n" + log["error_lines"] + "\n```")
    recv = os.path.join(meta["results_dir"], "pg_recvlogical_A.log")
    if "A" in scs and os.path.isfile(recv) and os.path.getsize(recv) > 0:
        with open(recv) as f:
            text = f.read().rstrip("\n")
        out.append("\npg_recvlogical (stopped with SIGINT at the end of scenario A) printed:\n")
        out.append("```\n" + text + "\n```")
    out.append("\n## Reading\n")
    out.append(reading)


SECTIONS = {"create_order": create_order, "get_order": get_order, "lifecycle": lifecycle,
            "defaults": defaults, "router": router,
            "retention": retention}


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "latency":
        latency(sys.argv[2:])
        return
    if len(sys.argv) != 5 or sys.argv[1] not in SECTIONS:
        sys.exit(__doc__)
    section, runs_file, out_file, meta_file = sys.argv[1:]
    with open(runs_file) as f:
        runs = [json.loads(line) for line in f if line.strip()]
    with open(meta_file) as f:
        meta = json.load(f)
    out = []
    SECTIONS[section](runs, meta, out)
    if meta.get("quick"):
        out.append("_Quick mode (BENCH_QUICK=1): a smoke run, too short to mean anything._\n")
    with open(out_file, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
