#!/usr/bin/env python3
"""bench/lib/listener_probe.py: a LISTEN session that times and counts notifications.

  listener_probe.py DSN [CHANNEL...]      (default channels: order_created)

The benchmarks that measure notifications (bench/defaults.sh,
bench/notify_modes.sh) run it through bench/lib/listener_probe.sh.  It stays
connected for the whole section: one connection LISTENs on the channels and
keeps every notification it receives; it takes commands, one a line, on
stdin and answers each on stdout with one line:

  (at start)            -> "ready"              once LISTEN is done
  begin [OPTIONS]       -> "writing"            a run starts: the heard set is
                           emptied, and a writer process (this file with
                           --writer) creates one order every 50 ms through its
                           own connection (libpq options OPTIONS, e.g.
                           "-c order_mgmt.notifications=in_process"), noting
                           when each COMMIT (autocommit) returned
  end EXPECT            -> one JSON object      the run is over (its pgbench
                           has finished): the writer stops, the probe reads
                           the ids of every event in order_mgmt.outbox (the
                           caller emptied it before the run, so these are the
                           run's committed events) and, if EXPECT is 1, waits
                           up to 60 s until each was heard; with EXPECT 0 it
                           waits 0.5 s for strays
  quit (or end of input) -> exits

The JSON of a run: probe_orders (orders the writer committed), probe_announced
(those whose notification arrived), delays_ms (for each of them: arrival time
minus the time its COMMIT returned, both CLOCK_MONOTONIC, so comparable across
the two processes; negative when the notification came before the writer saw
its COMMIT return), expected (events in the outbox), received (distinct event
ids heard), missing (outbox events never heard), unknown (heard ids that are
not in the outbox), duplicates (notifications of an event already heard),
channels (notifications per channel), wakeups (reads of the socket that
brought at least one notification: received / wakeups is how many arrived
together), waited_s (how long "end" waited).

The writer runs in a process of its own so that the listener's work never
holds up its timestamps (and the other way round).  Needs psycopg 3
(Debian's python3-psycopg).
"""
import json
import os
import select
import subprocess
import sys
import time
import uuid

import psycopg
from psycopg import sql

INTERVAL = 0.05           # seconds between two orders of the writer
END_WAIT = 60.0           # longest wait for a run's notifications
STRAY_WAIT = 0.5          # wait for strays when none are expected


def writer(dsn, options):
    """One order every INTERVAL until a line (or EOF) on stdin; prints the commit times."""
    conn = psycopg.connect(dsn, autocommit=True, options=options)
    committed = {}
    print("started", flush=True)
    while True:
        cmd = {"cartId": str(uuid.uuid4()), "customerId": str(uuid.uuid4()),
               "items": [{"productId": str(uuid.uuid4()), "quantity": 1, "unitPrice": 500}],
               "total": 500, "currency": "EUR"}
        order_id = conn.execute("SELECT order_mgmt.create_order(%s::jsonb)",
                                (json.dumps(cmd),)).fetchone()[0]
        committed[str(order_id)] = time.monotonic()
        pause = max(0.0, INTERVAL - (time.monotonic() % INTERVAL))
        if select.select([0], [], [], pause)[0]:
            break
    conn.close()
    print(json.dumps(committed), flush=True)


class Probe:
    """The listener, its heard set for the current run, the writer of the run."""

    def __init__(self, dsn, channels):
        self.dsn = dsn
        self.conn = psycopg.connect(dsn, autocommit=True)
        for ch in channels:
            self.conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(ch)))
        self.pg = self.conn.pgconn
        self.writer = None
        self.reset()

    def reset(self):
        self.heard = set()
        self.arrived = {}         # order id -> first arrival time
        self.duplicates = 0
        self.channels = {}
        self.wakeups = 0          # reads of the socket that brought notifications

    def consume(self):
        """Read what the socket holds; every notification gets the time select() returned."""
        now = time.monotonic()
        self.pg.consume_input()
        got = False
        while True:
            n = self.pg.notifies()
            if n is None:
                break
            if not got:
                got = True
                self.wakeups += 1
            channel = n.relname.decode()
            self.channels[channel] = self.channels.get(channel, 0) + 1
            payload = json.loads(n.extra)
            event_id = payload["eventId"]
            if event_id in self.heard:
                self.duplicates += 1
            else:
                self.heard.add(event_id)
            self.arrived.setdefault(payload["orderId"], now)

    def wait(self, seconds, done=None):
        """Consume notifications for up to seconds, or until done() holds."""
        end = time.monotonic() + seconds
        while not (done and done()):
            left = end - time.monotonic()
            if left <= 0:
                break
            if select.select([self.pg.socket], [], [], min(left, 0.05))[0]:
                self.consume()

    def begin(self, options):
        self.reset()
        self.writer = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--writer",
                                        self.dsn, options],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.writer.stdout.readline()
        if line.strip() != "started":
            sys.exit("listener_probe: the writer did not start")

    def end(self, expect):
        committed = {}
        if self.writer is not None:
            # keep listening while the writer finishes its last order
            self.writer.stdin.write("stop\n")
            self.writer.stdin.flush()
            while self.writer.poll() is None:
                self.wait(0.05)
            out = self.writer.stdout.read()
            if self.writer.returncode != 0:
                sys.exit("listener_probe: the writer failed")
            committed = json.loads(out)
            self.writer = None
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            outbox = {r[0] for r in conn.execute("SELECT id::text FROM order_mgmt.outbox")}
        started = time.monotonic()
        if expect:
            self.wait(END_WAIT, lambda: outbox <= self.heard)
        else:
            self.wait(STRAY_WAIT)
        waited = time.monotonic() - started
        delays = [(self.arrived[o] - t) * 1000.0 for o, t in committed.items() if o in self.arrived]
        return {"probe_orders": len(committed), "probe_announced": len(delays),
                "delays_ms": [round(d, 4) for d in delays], "expected": len(outbox),
                "received": len(self.heard), "missing": len(outbox - self.heard),
                "unknown": len(self.heard - outbox), "duplicates": self.duplicates,
                "channels": self.channels, "wakeups": self.wakeups,
                "waited_s": round(waited, 3)}


def serve(dsn, channels):
    probe = Probe(dsn, channels)
    print("ready", flush=True)
    buf = b""
    while True:
        ready = select.select([0, probe.pg.socket], [], [], 0.05)[0]
        if probe.pg.socket in ready:
            probe.consume()
        if 0 not in ready:
            continue
        data = os.read(0, 4096)
        if not data:
            break
        buf += data
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            verb, _, arg = line.decode().strip().partition(" ")
            if verb == "begin":
                probe.begin(arg)
                print("writing", flush=True)
            elif verb == "end":
                print(json.dumps(probe.end(arg.strip() == "1")), flush=True)
            elif verb == "quit":
                return
            elif verb:
                sys.exit(f"listener_probe: unknown command {verb!r}")


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--writer":
        writer(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 2 and not sys.argv[1].startswith("-"):
        serve(sys.argv[1], sys.argv[2:] or ["order_created"])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
