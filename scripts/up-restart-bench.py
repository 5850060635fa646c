#!/usr/bin/env python3
"""Restart cost of `recon up` with a day of records in its data dir.

  scripts/up-restart-bench.py [--pairs 500000] [--pending-only]

Generates PAIRS bank/ledger pairs (2*PAIRS records), runs `recon up` on a
fresh data dir, drops both files (or, with --pending-only, the bank file
alone, so every record waits in an open window), waits until the warehouse
holds every match (or the matcher has every record pending), then measures
two restarts: after SIGKILL (the embedded Redis replays the whole day's
log) and after Ctrl-C (it folded its log into a snapshot on the way out). Each
restart is timed from the start of the process to /readyz answering 200
(every service consuming, partitions claimed and loaded); the data dir's
size and the process's peak memory are printed beside it.
"""
import argparse
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def du(path):
    n = 0
    for d, _, files in os.walk(path):
        for f in files:
            try:
                n += os.path.getsize(os.path.join(d, f))
            except OSError:
                pass
    return n


def rows(db, table):
    """Rows of table in the SQLite file db, read-only (0 while it is not there yet)."""
    try:
        c = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return c.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        finally:
            c.close()
    except sqlite3.Error:
        return 0


def peak_rss(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


class Up:
    def __init__(self, binary, data, log, extra):
        self.binary, self.data, self.log, self.extra = binary, data, log, extra
        self.proc = None

    def start(self):
        self.log.write(f"=== start {time.strftime('%H:%M:%S')}\n")
        self.log.flush()
        self.t0 = time.time()
        self.proc = subprocess.Popen([self.binary, "up", "--data-dir", self.data, "--ops-addr", "127.0.0.1:0",
                                      "--log-level", "warn"] + self.extra, stdout=self.log, stderr=self.log)

    def ops(self, timeout=600):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with open(self.log.name) as f:
                text = f.read()
            m = re.findall(r"metrics: http://([0-9.:]+)/metrics", text.split("=== start")[-1])
            if m:
                return m[-1]
            if self.proc.poll() is not None:
                sys.exit(f"recon up exited:\n{text[-3000:]}")
            time.sleep(0.05)
        sys.exit("recon up printed no banner")

    def ready(self, timeout=900):
        addr = self.ops(timeout)
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://{addr}/readyz", timeout=2) as r:
                    if r.status == 200:
                        return time.time() - self.t0, addr
            except Exception:
                pass
            time.sleep(0.05)
        sys.exit("recon up never became ready")

    def metric(self, addr, name, label=""):
        with urllib.request.urlopen(f"http://{addr}/metrics", timeout=10) as r:
            total = 0.0
            for line in r.read().decode().splitlines():
                if line.startswith(name) and label in line:
                    total += float(line.rsplit(" ", 1)[1])
            return total

    def stop(self, sig):
        self.proc.send_signal(sig)
        self.proc.wait(600)
        self.log.write(f"=== stopped with {sig!r}\n")
        self.log.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=500000)
    ap.add_argument("--pending-only", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="recon-restart-")
    binary = os.path.join(work, "recon")
    subprocess.run(["go", "build", "-o", binary, "./services/recon"], cwd=root, check=True)
    subprocess.run([binary, "gen", "--pairs", str(a.pairs), "--accounts", "50", "--bank-only", "0",
                    "--ledger-only", "0", "--out", os.path.join(work, "g")], check=True, stdout=subprocess.DEVNULL)
    data = os.path.join(work, "data")
    log = open(os.path.join(work, "up.log"), "w")
    # With only the bank side, windows stay open (no idle advancement):
    # the restart must bring every pending record back into memory.
    up = Up(binary, data, log, ["--idle-advance", "24h"] if a.pending_only else [])
    up.start()
    _, addr = up.ready()
    t0 = time.time()
    sides = ["bank"] if a.pending_only else ["ledger", "bank"]
    for side in sides:
        dst = os.path.join(data, "inbox", side, side + ".csv")
        shutil.copy(os.path.join(work, "g", side + ".csv"), dst + ".part")
        os.rename(dst + ".part", dst)
    records = a.pairs * len(sides)
    db = os.path.join(data, "recon.db")
    last = 0
    while True:
        time.sleep(2)
        if a.pending_only:
            done = up.metric(addr, "recon_pending_records")
        else:
            done = rows(db, "recon_matches")
        want = records if a.pending_only else a.pairs
        if done != last:
            print(f"  loading the day: {int(done):,} of {want:,} ({time.time() - t0:.0f} s)", flush=True)
            last = done
        if done >= want:
            break
    loaded_s = time.time() - t0
    if not a.pending_only:
        # The console's case store is fed from the same topics: the day is
        # in only once it holds every match too.
        # (In one file with the warehouse since the warehouse's matches
        # are views over it; a data dir from before has cases.db.)
        cases = os.path.join(data, "cases.db")
        if not os.path.exists(cases):
            cases = db
        while rows(cases, "case_matches") < a.pairs:
            time.sleep(2)
        print(f"  the console's case store holds every match ({time.time() - t0:.0f} s)", flush=True)
    inp = sum(os.path.getsize(os.path.join(work, "g", side + ".csv")) for side in sides)
    def mib(*names):
        return sum(du(os.path.join(data, n)) if os.path.isdir(os.path.join(data, n)) else
                   (os.path.getsize(os.path.join(data, n)) if os.path.exists(os.path.join(data, n)) else 0) for n in names) / 2**20
    print(f"day in: {records:,} records in {loaded_s:.0f} s (warehouse); input {inp / 2**20:.0f} MiB; data dir {du(data) / 2**20:.0f} MiB "
          f"({du(data) / inp:.1f}x the input: inbox {mib('inbox'):.0f}, kafka {mib('kafka'):.0f}, redis {mib('redis'):.0f}, "
          + (f"warehouse {mib('recon.db', 'recon.db-wal', 'recon.db-shm'):.0f}, case store {mib('cases.db', 'cases.db-wal', 'cases.db-shm'):.0f}); "
             if os.path.exists(os.path.join(data, "cases.db")) else
             f"warehouse and case store {mib('recon.db', 'recon.db-wal', 'recon.db-shm'):.0f}); ") +
          f"peak RSS while loading {peak_rss(up.proc.pid)}", flush=True)
    for name, sig in (("SIGKILL", signal.SIGKILL), ("Ctrl-C", signal.SIGINT)):
        t = time.time()
        up.stop(sig)
        stop_s = time.time() - t
        redis_mb = du(os.path.join(data, "redis")) / 2**20
        up.start()
        ready_s, addr = up.ready()
        # Ready means consuming with partitions claimed; the window is
        # whole once every claimed partition has loaded its records.
        want = records if a.pending_only else 0
        while up.metric(addr, "recon_pending_records") < want:
            time.sleep(0.05)
        whole_s = time.time() - up.t0
        print(f"restart after {name}: stopped in {stop_s:.1f} s; ready in {ready_s:.1f} s, every pending record "
              f"back in its window after {whole_s:.1f} s (redis dir {redis_mb:.0f} MiB at the start, {want:,} pending; "
              f"peak RSS {peak_rss(up.proc.pid)})", flush=True)
    up.stop(signal.SIGINT)
    with open(log.name) as f:
        progress = [l.rstrip() for l in f if l.startswith("recon up: ") and ("loading" in l or "loaded" in l or "%" in l)]
    print("progress lines of the last start:")
    for l in progress[-6:]:
        print("  " + l)
    if a.keep:
        print("work folder:", work)
    else:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
