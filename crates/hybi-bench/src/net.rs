//! Client sockets on loopback, CPU affinity of the calling thread, and the fd limit.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::FromRawFd;

/// Hands out loopback source addresses (127.0.x.y), changing address every
/// `PER_ADDRESS` connections, so that tens of thousands of short connections to one server never
/// run out of ephemeral ports, whatever is still in TIME_WAIT from earlier ones.
#[derive(Debug, Default)]
pub struct SourceAddrs {
    issued: u64,
}

impl SourceAddrs {
    pub const PER_ADDRESS: u64 = 5_000;

    pub fn new() -> Self {
        Self::default()
    }

    pub fn next_addr(&mut self) -> Ipv4Addr {
        let n = self.issued / Self::PER_ADDRESS;
        self.issued += 1;
        // 127.0.1.1 .. 127.0.255.254, skipping .0 and .255.
        let n = (n % (255 * 254)) as u32;
        let (hi, lo) = (1 + n / 254, 1 + n % 254);
        Ipv4Addr::new(127, 0, hi as u8, lo as u8)
    }

    /// Moves on to a fresh source address (call between batches).
    pub fn skip_to_fresh(&mut self) {
        let rem = self.issued % Self::PER_ADDRESS;
        if rem != 0 {
            self.issued += Self::PER_ADDRESS - rem;
        }
    }
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn sockaddr_in(a: SocketAddrV4) -> libc::sockaddr_in {
    // SAFETY: all-zero is a valid sockaddr_in.
    let mut s: libc::sockaddr_in = unsafe { mem::zeroed() };
    s.sin_family = libc::AF_INET as libc::sa_family_t;
    s.sin_port = a.port().to_be();
    s.sin_addr = libc::in_addr {
        s_addr: u32::from_ne_bytes(a.ip().octets()),
    };
    s
}

/// Starts a non-blocking TCP connection from `src` (port chosen at connect time) to `dst`, with
/// TCP_NODELAY. Only IPv4 loopback destinations are allowed.
pub fn connect(src: Ipv4Addr, dst: SocketAddr) -> io::Result<mio::net::TcpStream> {
    let SocketAddr::V4(dst4) = dst else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "IPv4 loopback only",
        ));
    };
    if !dst4.ip().is_loopback() || !src.is_loopback() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "benchmark traffic stays on loopback",
        ));
    }
    // SAFETY: plain socket syscalls on a descriptor we own; it is closed on every error path
    // (through the std TcpStream that takes ownership right away).
    unsafe {
        let fd = cvt(libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        ))?;
        let std_stream = std::net::TcpStream::from_raw_fd(fd);
        let one: libc::c_int = 1;
        let optlen = mem::size_of::<libc::c_int>() as libc::socklen_t;
        cvt(libc::setsockopt(
            fd,
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            &one as *const _ as *const libc::c_void,
            optlen,
        ))?;
        cvt(libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            &one as *const _ as *const libc::c_void,
            optlen,
        ))?;
        let s = sockaddr_in(SocketAddrV4::new(src, 0));
        cvt(libc::bind(
            fd,
            &s as *const _ as *const libc::sockaddr,
            mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        ))?;
        let d = sockaddr_in(dst4);
        let r = libc::connect(
            fd,
            &d as *const _ as *const libc::sockaddr,
            mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINPROGRESS) {
                return Err(e);
            }
        }
        Ok(mio::net::TcpStream::from_std(std_stream))
    }
}

/// Raises RLIMIT_NOFILE's soft limit to the hard limit (inherited by the servers we spawn).
/// Returns the new soft limit.
pub fn raise_nofile() -> io::Result<u64> {
    // SAFETY: getrlimit/setrlimit with a valid pointer.
    unsafe {
        let mut r: libc::rlimit = mem::zeroed();
        cvt(libc::getrlimit(libc::RLIMIT_NOFILE, &mut r))?;
        if r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            cvt(libc::setrlimit(libc::RLIMIT_NOFILE, &r))?;
        }
        Ok(r.rlim_cur as u64)
    }
}

/// The calling thread's nice value, restored on drop after [`set_thread_nice`]. Threads and
/// processes started from the thread meanwhile inherit the new value.
pub struct NiceGuard {
    tid: libc::id_t,
    previous: i32,
}

pub fn set_thread_nice(nice: i32) -> io::Result<NiceGuard> {
    // SAFETY: gettid/getpriority/setpriority on the calling thread.
    unsafe {
        let tid = libc::gettid() as libc::id_t;
        *libc::__errno_location() = 0;
        let previous = libc::getpriority(libc::PRIO_PROCESS, tid);
        if previous == -1 && *libc::__errno_location() != 0 {
            return Err(io::Error::last_os_error());
        }
        cvt(libc::setpriority(libc::PRIO_PROCESS, tid, nice))?;
        Ok(NiceGuard { tid, previous })
    }
}

impl Drop for NiceGuard {
    fn drop(&mut self) {
        // SAFETY: restoring the calling thread's own nice value.
        unsafe {
            libc::setpriority(libc::PRIO_PROCESS, self.tid, self.previous);
        }
    }
}

/// CPU time of the calling thread (our client), in nanoseconds.
pub fn thread_cpu_ns() -> u64 {
    // SAFETY: clock_gettime with a valid pointer.
    unsafe {
        let mut ts: libc::timespec = mem::zeroed();
        if libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) != 0 {
            return 0;
        }
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }
}

/// The calling thread's CPU affinity, restored on drop after [`pin_current_thread`].
pub struct AffinityGuard {
    previous: Option<libc::cpu_set_t>,
}

/// Pins the calling thread (and the threads it spawns from now on) to `cpu`.
pub fn pin_current_thread(cpu: usize) -> io::Result<AffinityGuard> {
    // SAFETY: sched_{get,set}affinity on the calling thread with a properly sized set.
    unsafe {
        let mut prev: libc::cpu_set_t = mem::zeroed();
        let size = mem::size_of::<libc::cpu_set_t>();
        let had = libc::sched_getaffinity(0, size, &mut prev) == 0;
        let mut set: libc::cpu_set_t = mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        cvt(libc::sched_setaffinity(0, size, &set))?;
        Ok(AffinityGuard {
            previous: had.then_some(prev),
        })
    }
}

impl Drop for AffinityGuard {
    fn drop(&mut self) {
        if let Some(prev) = self.previous.take() {
            // SAFETY: restoring a set obtained from sched_getaffinity.
            unsafe {
                libc::sched_setaffinity(0, mem::size_of::<libc::cpu_set_t>(), &prev);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_addresses_rotate_and_stay_on_loopback() {
        let mut s = SourceAddrs::new();
        let first = s.next_addr();
        assert_eq!(first, Ipv4Addr::new(127, 0, 1, 1));
        for _ in 1..SourceAddrs::PER_ADDRESS {
            assert_eq!(s.next_addr(), first);
        }
        assert_eq!(s.next_addr(), Ipv4Addr::new(127, 0, 1, 2));
        s.skip_to_fresh();
        assert_eq!(s.next_addr(), Ipv4Addr::new(127, 0, 1, 3));
        let mut s = SourceAddrs {
            issued: SourceAddrs::PER_ADDRESS * 254,
        };
        assert_eq!(s.next_addr(), Ipv4Addr::new(127, 0, 2, 1));
        for _ in 0..100_000 {
            assert!(s.next_addr().is_loopback());
        }
    }

    #[test]
    fn refuses_non_loopback() {
        let e = connect(Ipv4Addr::new(127, 0, 0, 1), "10.0.0.1:80".parse().unwrap()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}
