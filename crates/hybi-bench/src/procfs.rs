//! Reading a server's CPU time and memory from /proc, and the machine's state around a run.

use std::fs;
use std::io;
use std::process::Command;

/// Clock ticks per second for /proc/PID/stat times.
pub fn clk_tck() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// utime + stime (clock ticks) from the text of /proc/PID/stat.
pub fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // rest starts at field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// VmRSS in KiB from the text of /proc/PID/status.
pub fn parse_vmrss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// A process's CPU time at one instant.
///
/// `stat_ns` is utime+stime of the whole process from /proc/PID/stat (10 ms resolution).
/// `sched_ns` is the nanosecond run time summed over /proc/PID/task/*/schedstat (the same
/// quantity at full resolution), with the thread count it was summed over: comparable
/// between two instants only when no thread came or went in between (servers with a helper
/// thread, such as hybi's idle-timer wheel, keep theirs for their whole life).
#[derive(Clone, Copy, Debug)]
pub struct CpuSnapshot {
    pub stat_ns: u64,
    pub sched_ns: Option<(u64, usize)>,
}

impl CpuSnapshot {
    pub fn take(pid: u32) -> io::Result<Self> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
        let ticks = parse_stat_cpu_ticks(&stat).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, "unparsable /proc/PID/stat")
        })?;
        let stat_ns = ticks * (1_000_000_000 / clk_tck());
        Ok(CpuSnapshot {
            stat_ns,
            sched_ns: threads_sched_ns(pid),
        })
    }

    /// CPU nanoseconds between `earlier` and `self`: nanosecond-exact when the process had
    /// the same threads at both instants, else from utime+stime.
    pub fn since(&self, earlier: &CpuSnapshot) -> u64 {
        match (self.sched_ns, earlier.sched_ns) {
            (Some((a, n)), Some((b, m))) if n == m && a >= b => a - b,
            _ => self.stat_ns.saturating_sub(earlier.stat_ns),
        }
    }
}

/// Run time in nanoseconds summed over the process's threads, and how many there were;
/// `None` when a thread's schedstat could not be read.
fn threads_sched_ns(pid: u32) -> Option<(u64, usize)> {
    let mut total = 0u64;
    let mut threads = 0;
    for entry in fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let path = entry.ok()?.path().join("schedstat");
        let text = fs::read_to_string(path).ok()?;
        total += text.split_whitespace().next()?.parse::<u64>().ok()?;
        threads += 1;
    }
    (threads > 0).then_some((total, threads))
}

pub fn rss_kib(pid: u32) -> io::Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_vmrss_kib(&status)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no VmRSS in /proc/PID/status"))
}

/// Busy and total jiffies of one CPU from /proc/stat (busy = everything but idle and iowait).
pub fn cpu_jiffies(cpu: usize) -> Option<(u64, u64)> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    parse_cpu_jiffies(&stat, cpu)
}

pub fn parse_cpu_jiffies(stat: &str, cpu: usize) -> Option<(u64, u64)> {
    let tag = format!("cpu{cpu}");
    let line = stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some(tag.as_str()))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 4 {
        return None;
    }
    // user nice system idle iowait irq softirq steal (guest fields are included in user/nice).
    let total: u64 = v.iter().take(8).sum();
    let idle = v[3] + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// The top CPU consumers (`ps --sort=-pcpu | head`), to record what else was running.
pub fn ps_top(lines: usize) -> Vec<String> {
    match Command::new("ps")
        .args(["-eo", "pid,pcpu,pmem,comm", "--sort=-pcpu"])
        .output()
    {
        Ok(out) => String::from_utf8_lossy(&out.stdout)
            .lines()
            .take(lines + 1)
            .map(|l| l.trim_end().to_string())
            .collect(),
        Err(e) => vec![format!("ps failed: {e}")],
    }
}

/// Host facts for the report.
pub fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

pub fn kernel() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

pub fn online_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_odd_comm() {
        let stat = "1234 (we) ird (name)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 37 0 0 20 0 1 0 100 1000 50";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(287));
    }

    #[test]
    fn own_process_is_readable() {
        let pid = std::process::id();
        let a = CpuSnapshot::take(pid).unwrap();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        std::hint::black_box(x);
        let b = CpuSnapshot::take(pid).unwrap();
        let _ = b.since(&a); // never negative
        assert!(rss_kib(pid).unwrap() > 0);
    }

    #[test]
    fn vmrss_and_jiffies() {
        assert_eq!(
            parse_vmrss_kib("Name:\tx\nVmPeak:\t 10 kB\nVmRSS:\t    4321 kB\n"),
            Some(4321)
        );
        let stat =
            "cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 10 0 5 100 5 1 1 2 0 0\ncpu1 1 1 1 1 1 1 1 1 0 0\n";
        assert_eq!(parse_cpu_jiffies(stat, 0), Some((19, 124)));
        assert_eq!(parse_cpu_jiffies(stat, 1), Some((6, 8)));
        assert_eq!(parse_cpu_jiffies(stat, 2), None);
    }
}
