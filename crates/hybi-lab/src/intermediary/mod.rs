//! Intermediaries: one interface ([`Intermediary`]) for the built-in, data-driven models ([`ModelProxy`] running
//! a [`Behaviour`] row from [`MODELS`]) and, later, real proxies (`hybi lab --real`).
//!
//! Transparent interception is modelled per destination: [`Intermediary::intercept`] returns the address a
//! client must connect to when its connection is *meant for* `dst` (the proxy sees that connection as
//! addressed to `dst`, which is what routing by destination IP uses). Routing by `Host` uses the lab's
//! [`Routes`] map instead, so `Host: target.example` reaches the lab's target server.

mod behaviour;
mod cache;
mod engine;
pub mod frames;
mod trace;

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;

pub use behaviour::*;
pub use cache::{key as cache_key, lifetime as cache_lifetime};
pub use engine::ModelProxy;
pub use trace::*;

use crate::util::BoxFuture;

/// The lab's name resolution for intermediaries: host name → backend address.
#[derive(Clone, Debug, Default)]
pub struct Routes {
    hosts: HashMap<String, SocketAddr>,
    prefixes: Vec<(String, SocketAddr)>,
}

impl Routes {
    /// An empty map (every `Host` lookup fails).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `name` (case-insensitive, without port) → `addr`.
    pub fn with(mut self, name: &str, addr: SocketAddr) -> Self {
        self.hosts.insert(name.to_ascii_lowercase(), addr);
        self
    }

    /// Looks a host (lowercase, no port) up.
    pub fn lookup(&self, host: &str) -> Option<SocketAddr> {
        self.hosts.get(&host.to_ascii_lowercase()).copied()
    }

    /// Adds a path prefix (e.g. `/chat`) → `addr`, for [`Routing::ByPathPrefix`].
    pub fn with_prefix(mut self, prefix: &str, addr: SocketAddr) -> Self {
        self.prefixes.push((prefix.to_string(), addr));
        self
    }

    /// The longest prefix `path` starts with, and its backend.
    pub fn lookup_path(&self, path: &str) -> Option<(String, SocketAddr)> {
        self.prefixes
            .iter()
            .filter(|(p, _)| path.starts_with(p.as_str()))
            .max_by_key(|(p, _)| p.len())
            .map(|(p, a)| (p.clone(), *a))
    }

    /// The name an address is known under (the first in name order), for traces.
    pub fn name_of(&self, addr: SocketAddr) -> Option<String> {
        let mut names: Vec<&String> = self
            .hosts
            .iter()
            .filter(|(_, a)| **a == addr)
            .map(|(n, _)| n)
            .collect();
        names.sort();
        names.first().map(|s| s.to_string())
    }

    /// All entries.
    pub fn entries(&self) -> impl Iterator<Item = (&str, SocketAddr)> {
        self.hosts.iter().map(|(n, a)| (n.as_str(), *a))
    }
}

/// Anything the lab can put between a client and a server.
///
/// Built-in models implement it with [`ModelProxy`]. A real proxy (nginx, Squid, ...; see
/// `shared/intermediaries`) implements it by starting the daemon in `intercept` with `dst` as its backend (and
/// the [`Routes`] given at construction as its virtual hosts), and returning whatever its logs let it report
/// as a [`Trace`] (possibly only `Request`/`Response` events, or none: attacks then rely on the origins' logs,
/// which every attack checks first anyway).
pub trait Intermediary: Send + Sync {
    /// Name for reports.
    fn name(&self) -> &str;
    /// Address to connect to for a connection meant for `dst`. May be called several times (one listener
    /// per destination); all share state (cache, trace).
    fn intercept<'a>(&'a self, dst: SocketAddr) -> BoxFuture<'a, io::Result<SocketAddr>>;
    /// Everything observed so far.
    fn trace(&self) -> Trace;
}

#[cfg(test)]
mod tests;
