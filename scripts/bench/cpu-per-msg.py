#!/usr/bin/env python3
"""Server CPU microseconds per echoed message, the method of shared/bench/README.md.

Starts SERVER pinned to CPU 0 (it must print a line containing 127.0.0.1:PORT once bound),
then uWebSockets' load_test pinned to CPU 1 with CONNECTIONS x BYTES. load_test prints
"Msg/sec: X" every 4 s (messages over the interval / 4). The first line is the warm-up; over
the next SAMPLES lines we take the delta of the server's utime+stime (/proc/PID/stat) and,
when the server has one thread, its nanosecond run time (/proc/PID/schedstat), divided by the
messages counted. Output: one JSON line per point.

usage: cpu-per-msg.py LOAD_TEST CONNS BYTES SAMPLES -- SERVER ARGS...
(use port 0 in SERVER's arguments where it takes one)
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

from procstat import rss_kib


def cpu_ns(pid):
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    rest = stat[stat.rfind(")") + 2 :].split()
    utime, stime = int(rest[11]), int(rest[12])
    ticks = utime + stime
    tck = os.sysconf("SC_CLK_TCK")
    sched = None
    if len(os.listdir(f"/proc/{pid}/task")) == 1:
        with open(f"/proc/{pid}/schedstat") as f:
            sched = int(f.read().split()[0])
    ns = 1_000_000_000 // tck
    return ticks * ns, sched, utime * ns


def main():
    argv = sys.argv[1:]
    sep = argv.index("--")
    load_test, conns, size, samples = argv[:sep]
    server_cmd = argv[sep + 1 :]
    samples = int(samples)
    server = subprocess.Popen(
        ["taskset", "-c", "0"] + server_cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    port = None
    for line in server.stdout:
        m = re.search(r"127\.0\.0\.1:(\d+)", line)
        if m:
            port = m.group(1)
            break
    if port is None:
        sys.exit("server printed no address")
    client = subprocess.Popen(
        ["taskset", "-c", "1", load_test, conns, "127.0.0.1", port, "0", "0", size],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    rates = []
    start = None
    try:
        for line in client.stdout:
            m = re.match(r"Msg/sec: ([0-9.]+)", line)
            if not m:
                continue
            if start is None:
                start = cpu_ns(server.pid)
                continue
            rates.append(float(m.group(1)))
            if len(rates) == samples:
                end = cpu_ns(server.pid)
                break
    finally:
        client.send_signal(signal.SIGTERM)
        client.wait()
        rss = rss_kib(server.pid)
        server.send_signal(signal.SIGTERM)
        server.wait()
    msgs = sum(rates) * 4
    out = {
        "server": os.path.basename(server_cmd[0]),
        "conns": int(conns),
        "bytes": int(size),
        "msgs_per_s": round(sum(rates) / len(rates)),
        "cpu_us_per_msg_stat": round((end[0] - start[0]) / 1000 / msgs, 3),
        "user_us_per_msg": round((end[2] - start[2]) / 1000 / msgs, 3),
        "rss_kib": rss,
    }
    if start[1] is not None and end[1] is not None:
        out["cpu_us_per_msg_sched"] = round((end[1] - start[1]) / 1000 / msgs, 3)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
