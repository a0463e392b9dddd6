//! Reading the products' access logs: which requests each one parsed. Where the format is configurable the
//! lab's configs write `HYBI|method|target|host|status[|request line]`; tinyproxy and Privoxy have fixed
//! formats that contain the request line; Caddy writes JSON.

/// One request a product logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    /// The log line as written.
    pub line: String,
    /// Method.
    pub method: String,
    /// Request-target (origin-form, absolute-form or authority).
    pub target: String,
    /// Host it named, if logged.
    pub host: Option<String>,
    /// Status the product answered with, if logged.
    pub status: Option<u16>,
}

impl Logged {
    /// The path of the target (absolute-form reduced to its path; an authority stays as it is).
    pub fn path(&self) -> &str {
        let t = self.target.as_str();
        if let Some(rest) = t.split_once("://").map(|(_, r)| r) {
            match rest.find('/') {
                Some(i) => &rest[i..],
                None => "/",
            }
        } else {
            t
        }
    }
}

const METHODS: [&str; 9] = [
    "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "CONNECT", "PATCH", "TRACE",
];

fn some(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty() && s != "-").then(|| s.to_string())
}

fn json_str(line: &str, key: &str) -> Option<String> {
    let pat = format!("\"{key}\":\"");
    let i = line.find(&pat)? + pat.len();
    let mut out = String::new();
    let mut esc = false;
    for c in line[i..].chars() {
        if esc {
            out.push(c);
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else if c == '"' {
            return Some(out);
        } else {
            out.push(c);
        }
    }
    None
}

fn json_num(line: &str, key: &str) -> Option<u16> {
    let pat = format!("\"{key}\":");
    let i = line.find(&pat)? + pat.len();
    line[i..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect::<String>()
        .parse()
        .ok()
}

/// Parses one log line; `None` if it does not record a request.
pub fn parse_line(line: &str) -> Option<Logged> {
    let line = line.trim_end_matches(['\r', '\n']);
    if let Some(i) = line.find("HYBI|") {
        let f: Vec<&str> = line[i + 5..].split('|').collect();
        let mut method = f.first().map(|s| s.trim().to_string()).unwrap_or_default();
        let mut target = f.get(1).map(|s| s.trim().to_string()).unwrap_or_default();
        // a logged request line (field 5) is the most faithful target where present
        if let Some(rl) = f.get(4).and_then(|s| some(s)) {
            let mut it = rl.split_whitespace();
            if let (Some(m), Some(t)) = (it.next(), it.next()) {
                method = m.to_string();
                target = t.to_string();
            }
        }
        if method.is_empty() || method == "-" {
            return None;
        }
        return Some(Logged {
            line: line.to_string(),
            method,
            target,
            host: f.get(2).and_then(|s| some(s)),
            status: f.get(3).and_then(|s| s.trim().parse().ok()),
        });
    }
    if line.starts_with('{') && line.contains("\"request\"") {
        let method = json_str(line, "method")?;
        return Some(Logged {
            line: line.to_string(),
            method,
            target: json_str(line, "uri").unwrap_or_default(),
            host: json_str(line, "host"),
            status: json_num(line, "status"),
        });
    }
    // fixed formats: `... "GET http://x/y HTTP/1.1" 200 ...` (Privoxy, CLF) or
    // `... Request (file descriptor 7): GET http://x/y HTTP/1.1` (tinyproxy)
    for m in METHODS {
        let mut from = 0;
        while let Some(j) = line[from..].find(m).map(|j| j + from) {
            from = j + m.len();
            let before = line[..j].chars().last();
            if !matches!(before, None | Some('"') | Some(' ')) {
                continue;
            }
            let rest = &line[j + m.len()..];
            let Some(rest) = rest.strip_prefix(' ') else {
                continue;
            };
            let mut it = rest.split(' ');
            let target = it.next().unwrap_or("");
            let version = it.next().unwrap_or("");
            if target.is_empty() || !version.starts_with("HTTP/") {
                continue;
            }
            let after = &rest[target.len() + 1 + version.len()..];
            let status = if version.ends_with('"') {
                after.split_whitespace().next().and_then(|s| s.parse().ok())
            } else {
                None
            };
            let host = target
                .split_once("://")
                .map(|(_, r)| r.split('/').next().unwrap_or("").to_string())
                .or_else(|| (m == "CONNECT").then(|| target.to_string()));
            return Some(Logged {
                line: line.to_string(),
                method: m.to_string(),
                target: target.to_string(),
                host,
                status,
            });
        }
    }
    None
}

/// Parses every request line of a log chunk.
pub fn parse(text: &str) -> Vec<Logged> {
    text.lines().filter_map(parse_line).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_format_clf_tinyproxy_and_json() {
        let l = parse_line("HYBI|GET|/script.js/n1|target.example|200").unwrap();
        assert_eq!(
            (l.method.as_str(), l.path(), l.status),
            ("GET", "/script.js/n1", Some(200))
        );
        assert_eq!(l.host.as_deref(), Some("target.example"));
        let l = parse_line("HYBI|GET|/x|-|101|GET http://a.example/ws HTTP/1.1").unwrap();
        assert_eq!(
            (l.target.as_str(), l.path(), l.host.as_deref()),
            ("http://a.example/ws", "/ws", None)
        );
        let l = parse_line(
            "127.0.0.1 - - [01/Jan/2026:00:00:00 +0000] \"GET http://attacker.example/ws HTTP/1.1\" 400 12",
        )
        .unwrap();
        assert_eq!((l.path(), l.status), ("/ws", Some(400)));
        assert_eq!(l.host.as_deref(), Some("attacker.example"));
        let l = parse_line(
            "CONNECT   Jan 01 00:00:00.000 [42]: Request (file descriptor 7): CONNECT attacker.example:80 HTTP/1.1",
        )
        .unwrap();
        assert_eq!(
            (l.method.as_str(), l.target.as_str()),
            ("CONNECT", "attacker.example:80")
        );
        let l = parse_line(r#"{"level":"info","request":{"method":"GET","host":"a.example","uri":"/ws?x=\"1\""},"status":101}"#).unwrap();
        assert_eq!(
            (l.method.as_str(), l.target.as_str(), l.status),
            ("GET", "/ws?x=\"1\"", Some(101))
        );
        assert!(parse_line("2026/01/01 [notice] 1#1: start worker processes").is_none());
        assert!(parse_line("GETTING started").is_none());
    }
}
