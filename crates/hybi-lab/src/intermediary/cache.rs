//! The in-memory cache of caching rows: keyed by the host the *request* named plus the path, which is
//! exactly what makes a proxy that routes by IP poisonable (Huang et al. §III-2).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use crate::http::{Headers, ResponseHead};
use crate::util::parse_http_date;

/// A stored response.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Response head as received from the backend.
    pub head: Vec<u8>,
    /// Body (de-chunked framing is not applied: what the backend sent).
    pub body: Vec<u8>,
    /// Until when it is fresh.
    pub fresh_until: SystemTime,
}

/// Cache key for a request: `http://{host}{path}`.
pub fn key(host: &str, path: &str) -> String {
    format!("http://{host}{path}")
}

/// How long `head` may be cached by a shared cache, or `None` if it may not (RFC 7234 §3, simplified:
/// `no-store`, `private`, `no-cache` forbid; `s-maxage`, then `max-age`, then `Expires` give the lifetime;
/// `public` alone gives a heuristic 10 minutes).
pub fn lifetime(head: &ResponseHead, now: SystemTime) -> Option<Duration> {
    if head.status != 200 {
        return None;
    }
    let cc = head
        .header("cache-control")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let directives: Vec<(&str, Option<&str>)> = cc
        .split(',')
        .map(|d| {
            let d = d.trim();
            match d.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim().trim_matches('"'))),
                None => (d, None),
            }
        })
        .collect();
    if directives
        .iter()
        .any(|(k, _)| matches!(*k, "no-store" | "private" | "no-cache"))
    {
        return None;
    }
    for name in ["s-maxage", "max-age"] {
        if let Some((_, Some(v))) = directives.iter().find(|(k, _)| *k == name) {
            return v
                .parse::<u64>()
                .ok()
                .filter(|s| *s > 0)
                .map(Duration::from_secs);
        }
    }
    if let Some(exp) = head.header("expires") {
        return parse_http_date(&exp).and_then(|t| t.duration_since(now).ok());
    }
    if directives.iter().any(|(k, _)| *k == "public") {
        return Some(Duration::from_secs(600));
    }
    None
}

/// The cache of one proxy instance.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    entries: HashMap<String, Entry>,
}

impl Cache {
    /// A fresh entry for `key`, if any.
    pub fn get(&self, key: &str, now: SystemTime) -> Option<&Entry> {
        self.entries.get(key).filter(|e| e.fresh_until > now)
    }

    /// Stores an entry.
    pub fn put(&mut self, key: String, entry: Entry) {
        self.entries.insert(key, entry);
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::http_date;

    fn head(extra: &str) -> ResponseHead {
        let raw = format!("HTTP/1.1 200 OK\r\n{extra}Content-Length: 0\r\n\r\n");
        ResponseHead::parse(raw.as_bytes()).unwrap().unwrap().0
    }

    #[test]
    fn honours_cache_control_and_expires() {
        let now = SystemTime::now();
        assert_eq!(
            lifetime(&head("Cache-Control: public, max-age=60\r\n"), now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            lifetime(&head("Cache-Control: private, max-age=60\r\n"), now),
            None
        );
        assert_eq!(lifetime(&head("Cache-Control: no-store\r\n"), now), None);
        assert_eq!(lifetime(&head(""), now), None);
        let later = http_date(now + Duration::from_secs(3600));
        assert!(lifetime(&head(&format!("Expires: {later}\r\n")), now).is_some());
        let past = http_date(now - Duration::from_secs(3600));
        assert_eq!(lifetime(&head(&format!("Expires: {past}\r\n")), now), None);
    }
}
