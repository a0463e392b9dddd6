"""/proc readings shared by the benchmark scripts (cpu-per-msg.py, idle-mem.py)."""


def rss_kib(pid):
    """Resident set size of process PID in KiB (VmRSS), 0 if it is not reported."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
