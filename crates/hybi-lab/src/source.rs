//! A small reader of `hybi-proto`'s own source (embedded at build time, see `build.rs`): which modules a
//! variant's handshake and framing live in, how many lines of code they have, which helper functions of other
//! modules they call, and which cryptographic primitives that code names.
//!
//! It is a lexical reader, not a compiler: comments, string and char literals are blanked first, then `fn`
//! items are found by brace matching, `use` trees are expanded, and calls (`name(` / `path::name(`) are
//! resolved against the functions of the modules they were imported from.

use std::collections::{BTreeMap, BTreeSet};

include!(concat!(env!("OUT_DIR"), "/proto_sources.rs"));

/// Files that are shared infrastructure of every variant (HTTP heads, message layer, limits, errors, UTF-8,
/// close codes, variant table): never counted for one variant.
pub const INFRASTRUCTURE: &[&str] = &[
    "lib.rs",
    "http.rs",
    "connection.rs",
    "limits.rs",
    "error.rs",
    "utf8.rs",
    "close.rs",
    "variant.rs",
    "fuzzing.rs",
];

/// Optional extensions (permessage-deflate): negotiated on top of a variant, not part of any proposal, so
/// not counted for one (the few lines the RFC 6455 modules spend on offering them are).
pub const EXTENSIONS: &str = "extensions/";

/// The embedded source of `path` (relative to `hybi-proto/src`).
pub fn file(path: &str) -> Option<&'static str> {
    PROTO_SOURCES
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, s)| *s)
}

/// Every embedded path.
pub fn paths() -> impl Iterator<Item = &'static str> {
    PROTO_SOURCES.iter().map(|(p, _)| *p)
}

/// `src` with comments, string literals and char literals replaced by spaces (newlines kept), so that braces
/// and identifiers can be scanned safely. Doc comments count as comments.
pub fn blank(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = b.to_vec();
    let mut i = 0;
    let wipe = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in out.iter_mut().take(to).skip(from) {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let end = b[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len(), |p| i + p);
                wipe(&mut out, i, end);
                i = end;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                let mut j = i;
                while j < b.len() {
                    if b[j] == b'/' && b.get(j + 1) == Some(&b'*') {
                        depth += 1;
                        j += 2;
                    } else if b[j] == b'*' && b.get(j + 1) == Some(&b'/') {
                        depth -= 1;
                        j += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        j += 1;
                    }
                }
                wipe(&mut out, i, j);
                i = j;
            }
            b'r' if (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
                && (i == 0 || !is_ident(b[i - 1])) =>
            {
                let mut j = i + 1;
                let mut hashes = 0;
                while b.get(j) == Some(&b'#') {
                    hashes += 1;
                    j += 1;
                }
                if b.get(j) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                let mut closing = vec![b'"'];
                closing.extend(vec![b'#'; hashes]);
                let end = find_from(b, j + 1, &closing).map_or(b.len(), |p| p + closing.len());
                wipe(&mut out, j, end);
                i = end;
            }
            b'"' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != b'"' {
                    if b[j] == b'\\' {
                        j += 1;
                    }
                    j += 1;
                }
                wipe(&mut out, i + 1, j.min(b.len()));
                i = j + 1;
            }
            b'\'' => {
                // a char literal ('x', '\n', '\u{..}', '\'') or a lifetime ('a)
                let close = if b.get(i + 1) == Some(&b'\\') {
                    b[i + 2..]
                        .iter()
                        .take(12)
                        .position(|&c| c == b'\'')
                        .map(|p| i + 2 + p)
                } else if b.get(i + 2) == Some(&b'\'') {
                    Some(i + 2)
                } else {
                    None
                };
                match close {
                    Some(end) => {
                        wipe(&mut out, i + 1, end);
                        i = end + 1;
                    }
                    None => i += 1,
                }
            }
            _ => i += 1,
        }
    }
    String::from_utf8(out).unwrap_or_default()
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn find_from(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    if from > hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Index of the brace matching the `{` at `open` in blanked text.
fn matching(b: &[u8], open: usize) -> usize {
    let mut depth = 0usize;
    for (j, &c) in b.iter().enumerate().skip(open) {
        match c {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return j;
                }
            }
            _ => {}
        }
    }
    b.len().saturating_sub(1)
}

/// The first `{` or `;` at or after `from` outside parentheses and brackets (the end of an item's signature).
fn item_open(b: &[u8], from: usize) -> Option<(usize, u8)> {
    let mut depth = 0i32;
    for (j, &c) in b.iter().enumerate().skip(from) {
        match c {
            b'(' | b'[' => depth += 1,
            b')' | b']' => depth -= 1,
            b'{' | b';' if depth <= 0 => return Some((j, c)),
            _ => {}
        }
    }
    None
}

/// Byte ranges of `#[cfg(test)]` items (test modules, test-only functions) in blanked text.
fn test_ranges(bl: &str) -> Vec<(usize, usize)> {
    let b = bl.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(p) = find_from(b, from, b"#[cfg(test)]") {
        let end = match item_open(b, p + 12) {
            Some((o, b'{')) => matching(b, o),
            Some((s, _)) => s,
            None => b.len() - 1,
        };
        out.push((p, end + 1));
        from = end + 1;
    }
    out
}

/// Counts code lines of `original[range]`: lines with something left after blanking comments (string contents
/// count as code), ignoring blank lines and lines inside `#[cfg(test)]` items.
pub fn code_lines(src: &str) -> usize {
    let bl = blank(src);
    let tests = test_ranges(&bl);
    count_lines(src, &bl, 0, src.len(), &tests)
}

fn count_lines(src: &str, bl: &str, from: usize, to: usize, tests: &[(usize, usize)]) -> usize {
    let mut n = 0;
    let mut pos = from;
    for (line_src, line_bl) in src[from..to].split('\n').zip(bl[from..to].split('\n')) {
        let start = pos;
        pos += line_src.len() + 1;
        if tests.iter().any(|&(a, b)| start >= a && start < b) {
            continue;
        }
        // a line is code if blanking left a non-space, or it is inside a string literal that blanking emptied
        let is_code = !line_bl.trim().is_empty()
            || (!line_src.trim().is_empty()
                && !line_src.trim_start().starts_with("//")
                && !line_src.trim_start().starts_with("/*")
                && !line_src.trim_start().starts_with('*'));
        if is_code {
            n += 1;
        }
    }
    n
}

/// One `fn` item of a file.
#[derive(Clone, Debug)]
pub struct FnItem {
    /// Name.
    pub name: String,
    /// Byte range of the whole item (from `fn` to its closing brace).
    pub range: (usize, usize),
    /// Whether it is a method (defined inside an `impl` block).
    pub in_impl: bool,
}

/// A parsed source file.
#[derive(Clone, Debug)]
pub struct Parsed {
    /// Path under `hybi-proto/src`.
    pub path: String,
    /// Original text.
    pub src: &'static str,
    /// Blanked text.
    pub blanked: String,
    /// Non-test `fn` items.
    pub fns: Vec<FnItem>,
    /// `use` imports: local name → full path segments (e.g. `accept_key` → `super`, `accept_key`).
    pub imports: BTreeMap<String, Vec<String>>,
    tests: Vec<(usize, usize)>,
}

impl Parsed {
    /// Parses the embedded file `path`.
    pub fn load(path: &str) -> Option<Parsed> {
        let src = file(path)?;
        let blanked = blank(src);
        let tests = test_ranges(&blanked);
        let b = blanked.as_bytes();
        let impls = impl_ranges(b);
        let mut fns = Vec::new();
        let mut from = 0;
        while let Some(p) = find_from(b, from, b"fn ") {
            from = p + 3;
            if p > 0 && is_ident(b[p - 1]) {
                continue;
            }
            if tests.iter().any(|&(a, e)| p >= a && p < e) {
                continue;
            }
            let name: String = blanked[p + 3..]
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name.is_empty() {
                continue;
            }
            let Some((open, b'{')) = item_open(b, p) else {
                continue; // a declaration without a body
            };
            let close = matching(b, open);
            fns.push(FnItem {
                name,
                range: (line_start(b, p), close + 1),
                in_impl: impls.iter().any(|&(a, e)| p > a && p < e),
            });
            from = close + 1;
        }
        let imports = parse_uses(&blanked);
        Some(Parsed {
            path: path.to_string(),
            src,
            blanked,
            fns,
            imports,
            tests,
        })
    }

    /// Code lines of the whole file (tests excluded).
    pub fn loc(&self) -> usize {
        count_lines(self.src, &self.blanked, 0, self.src.len(), &self.tests)
    }

    /// Code lines of one function item.
    pub fn fn_loc(&self, f: &FnItem) -> usize {
        count_lines(self.src, &self.blanked, f.range.0, f.range.1, &self.tests)
    }

    /// The first non-test `fn` named `name`.
    pub fn find_fn(&self, name: &str) -> Option<&FnItem> {
        self.fns.iter().find(|f| f.name == name)
    }

    /// Blanked, non-test text of the whole file.
    pub fn code(&self) -> String {
        let mut s = self.blanked.clone().into_bytes();
        for &(a, e) in &self.tests {
            for c in s.iter_mut().take(e.min(self.blanked.len())).skip(a) {
                if *c != b'\n' {
                    *c = b' ';
                }
            }
        }
        String::from_utf8(s).unwrap_or_default()
    }
}

/// Byte ranges of `impl … { … }` blocks in blanked text.
fn impl_ranges(b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(p) = find_from(b, from, b"impl") {
        from = p + 4;
        let before_ok = p == 0 || !is_ident(b[p - 1]);
        let after_ok = matches!(b.get(p + 4), Some(b' ' | b'<' | b'\n'));
        if !(before_ok && after_ok) {
            continue;
        }
        if let Some((open, b'{')) = item_open(b, p) {
            let close = matching(b, open);
            out.push((p, close));
            from = close + 1;
        }
    }
    out
}

fn line_start(b: &[u8], p: usize) -> usize {
    b[..p]
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |i| i + 1)
}

/// Expands every `use` statement of blanked text into `local name → path`.
fn parse_uses(bl: &str) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    let b = bl.as_bytes();
    let mut from = 0;
    while let Some(p) = find_from(b, from, b"use ") {
        from = p + 4;
        if p > 0 && (is_ident(b[p - 1]) || b[p - 1] == b':') {
            continue;
        }
        let Some(end) = find_from(b, p, b";") else {
            break;
        };
        let tree = normalise_use(&bl[p + 4..end]);
        expand(&tree, &mut Vec::new(), &mut out);
        from = end + 1;
    }
    out
}

/// Collapses whitespace of a use tree, keeping a single space only around the `as` keyword.
fn normalise_use(t: &str) -> String {
    let words: Vec<&str> = t.split_whitespace().collect();
    let mut out = String::new();
    for w in words {
        if w == "as" {
            out.push_str(" as ");
        } else {
            out.push_str(w);
        }
    }
    out
}

fn expand(tree: &str, prefix: &mut Vec<String>, out: &mut BTreeMap<String, Vec<String>>) {
    // split at top-level commas
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in tree.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&tree[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&tree[start..]);
    for part in parts.into_iter().filter(|p| !p.is_empty()) {
        if let Some(open) = part.find('{') {
            let head = part[..open].trim_end_matches("::");
            let inner = &part[open + 1..part.len().saturating_sub(1)];
            let n = prefix.len();
            prefix.extend(head.split("::").filter(|s| !s.is_empty()).map(String::from));
            expand(inner, prefix, out);
            prefix.truncate(n);
        } else {
            let (path, alias) = match part.split_once(" as ") {
                Some((p, a)) => (p, Some(a)),
                None => (part, None),
            };
            let mut full = prefix.clone();
            full.extend(path.split("::").filter(|s| !s.is_empty()).map(String::from));
            if full.last().map(String::as_str) == Some("self") {
                full.pop();
            }
            let local = alias
                .map(str::to_string)
                .or_else(|| full.last().cloned())
                .unwrap_or_default();
            if !local.is_empty() && local != "_" {
                out.insert(local, full);
            }
        }
    }
}

/// The module file a path (without its last item) names, seen from `from` (e.g. `handshake/hixie76.rs` +
/// `super::hixie75` → `handshake/hixie75.rs`; `super` alone → `handshake/mod.rs`).
pub fn resolve_module(from: &str, segments: &[String]) -> Option<String> {
    let mut dir: Vec<String> = {
        let mut d: Vec<String> = from.split('/').map(String::from).collect();
        let fname = d.pop().unwrap_or_default();
        if fname != "mod.rs" && fname != "lib.rs" {
            d.push(fname.trim_end_matches(".rs").to_string());
        }
        d
    };
    let mut segs = segments.iter().peekable();
    match segs.peek().map(|s| s.as_str()) {
        Some("crate") => {
            dir.clear();
            segs.next();
        }
        Some("super") => {
            while segs.peek().map(|s| s.as_str()) == Some("super") {
                dir.pop();
                segs.next();
            }
        }
        Some("self") => {
            segs.next();
        }
        _ => return None, // an external crate or std
    }
    for s in segs {
        dir.push(s.clone());
    }
    let base = dir.join("/");
    let candidates = if base.is_empty() {
        vec!["lib.rs".to_string()]
    } else {
        vec![format!("{base}.rs"), format!("{base}/mod.rs")]
    };
    candidates.into_iter().find(|c| file(c).is_some())
}

/// A function of another module pulled in by a variant's code.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Helper {
    /// Module file.
    pub file: String,
    /// Function name.
    pub name: String,
    /// Its code lines.
    pub loc: usize,
}

/// The code a variant is made of: whole module files plus helper functions they call in other modules.
#[derive(Clone, Debug, Default)]
pub struct Closure {
    /// Whole files (the variant's handshake and framing modules), with their code lines.
    pub files: Vec<(String, usize)>,
    /// Helper functions from other (non-infrastructure) modules.
    pub helpers: Vec<Helper>,
    /// Blanked code of everything above, with lines naming only other variants dropped (for primitive scans).
    pub code: String,
}

impl Closure {
    /// Total code lines.
    pub fn loc(&self) -> usize {
        self.files.iter().map(|(_, n)| n).sum::<usize>()
            + self.helpers.iter().map(|h| h.loc).sum::<usize>()
    }
}

/// Calls in `code`: `(path segments before the name, name)` for every `ident(` and `a::b::ident(`.
fn calls(code: &str) -> Vec<(Vec<String>, String)> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if is_ident(b[i]) && (i == 0 || !is_ident(b[i - 1])) {
            let start = i;
            let mut j = i;
            while j < b.len() && (is_ident(b[j]) || (b[j] == b':' && b.get(j + 1) == Some(&b':'))) {
                j += if b[j] == b':' { 2 } else { 1 };
            }
            let path = &code[start..j];
            let mut k = j;
            while k < b.len() && b[k] == b' ' {
                k += 1;
            }
            if b.get(k) == Some(&b'(') && !path.ends_with("::") {
                let mut segs: Vec<String> = path.split("::").map(String::from).collect();
                let name = segs.pop().unwrap_or_default();
                out.push((segs, name));
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// Drops lines that name some `Variant::X` but not `Variant::{keep}` (match arms and comparisons that belong to
/// another variant served by the same module), and the whole block such a line opens.
fn only_variant(code: &str, keep: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let mut skip_depth = 0i64;
    for l in code.split('\n') {
        let opens = l.matches('{').count() as i64 - l.matches('}').count() as i64;
        if skip_depth > 0 {
            skip_depth += opens;
            out.push("");
            continue;
        }
        let names_other = l.match_indices("Variant::").any(|(p, _)| {
            let id: String = l[p + 9..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            !id.is_empty() && id != keep
        });
        let names_this = l.match_indices(&format!("Variant::{keep}")).any(|(p, _)| {
            !l[p + 9 + keep.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric())
        });
        if names_other && !names_this {
            out.push("");
            if opens > 0 {
                skip_depth = opens;
            }
        } else {
            out.push(l);
        }
    }
    out.join("\n")
}

/// Builds the closure of `roots` (whole files) for the variant whose `Debug` name is `variant`: helper
/// functions of other non-infrastructure modules reached through imports or paths, transitively.
pub fn closure(roots: &[String], variant: &str) -> Closure {
    let mut c = Closure::default();
    let mut whole: BTreeSet<String> = BTreeSet::new();
    let mut parsed: BTreeMap<String, Parsed> = BTreeMap::new();
    // (file, fn name) reached and still to scan
    let mut work: Vec<(String, String)> = Vec::new();
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    for r in roots {
        if whole.contains(r) {
            continue;
        }
        let Some(p) = Parsed::load(r) else { continue };
        whole.insert(r.clone());
        c.files.push((r.clone(), p.loc()));
        // entry points: the dispatch targets and every method (reachable through trait objects)
        for f in p
            .fns
            .iter()
            .filter(|f| f.in_impl || f.name == "client" || f.name == "server")
        {
            if seen.insert((r.clone(), f.name.clone())) {
                work.push((r.clone(), f.name.clone()));
            }
        }
        parsed.insert(r.clone(), p);
    }
    while let Some((from, fname)) = work.pop() {
        let me = match parsed.get(&from) {
            Some(p) => p.clone(),
            None => match Parsed::load(&from) {
                Some(p) => {
                    parsed.insert(from.clone(), p.clone());
                    p
                }
                None => continue,
            },
        };
        let code = me.code();
        let mut body = String::new();
        for f in me.fns.iter().filter(|f| f.name == fname) {
            body.push_str(&only_variant(&code[f.range.0..f.range.1], variant));
            body.push('\n');
            if !whole.contains(&from) {
                c.helpers.push(Helper {
                    file: from.clone(),
                    name: fname.clone(),
                    loc: me.fn_loc(f),
                });
            }
        }
        c.code.push_str(&body);
        for (segs, name) in calls(&body) {
            // where would `name` live?
            let target = if segs.is_empty() {
                match me.imports.get(&name) {
                    Some(full) => resolve_module(&from, &full[..full.len() - 1]),
                    None if me.find_fn(&name).is_some() => Some(from.clone()),
                    None => None,
                }
            } else {
                let first = &segs[0];
                let mut full = match me.imports.get(first) {
                    Some(f) if !matches!(first.as_str(), "crate" | "super" | "self") => f.clone(),
                    _ => vec![first.clone()],
                };
                full.extend(segs[1..].iter().cloned());
                resolve_module(&from, &full)
            };
            let Some(file) = target else { continue };
            if INFRASTRUCTURE.contains(&file.as_str()) || file.starts_with(EXTENSIONS) {
                continue;
            }
            let has_fn = match parsed.get(&file) {
                Some(p) => p.find_fn(&name).is_some(),
                None => match Parsed::load(&file) {
                    Some(p) => {
                        let has = p.find_fn(&name).is_some();
                        parsed.insert(file.clone(), p);
                        has
                    }
                    None => false,
                },
            };
            if has_fn && seen.insert((file.clone(), name.clone())) {
                work.push((file, name));
            }
        }
    }
    c.helpers.sort();
    c.helpers.dedup();
    c
}

/// The handshake module `client_for` in `handshake/mod.rs` dispatches `variant` (its `Debug` name) to.
pub fn handshake_module(variant: &str) -> Option<String> {
    let p = Parsed::load("handshake/mod.rs")?;
    let f = p.find_fn("client_for")?;
    let body = &p.blanked[f.range.0..f.range.1];
    let pat = format!("Variant::{variant}");
    let arm = body.split("=>").collect::<Vec<_>>();
    // arm[i] ends with the patterns of arm i, arm[i+1] starts with its expression
    for i in 0..arm.len().saturating_sub(1) {
        let pats = arm[i].rsplit([',', '{']).next().unwrap_or("");
        let names_it = pats.match_indices(&pat).any(|(q, _)| {
            !pats[q + pat.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric())
        });
        if names_it {
            // the first `module::client(` of the arm's expression
            let expr = arm[i + 1];
            let at = expr.find("::client(")?;
            let module: String = expr[..at]
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            return resolve_module("handshake/mod.rs", &["self".into(), module]);
        }
    }
    None
}

/// The framing module defining the codec type `name` (`struct name`).
pub fn codec_module(name: &str) -> Option<String> {
    let pat = format!("struct {name}");
    paths()
        .filter(|p| p.starts_with("framing/"))
        .find(|p| {
            Parsed::load(p).is_some_and(|f| {
                f.blanked.match_indices(&pat).any(|(q, _)| {
                    !f.blanked[q + pat.len()..]
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                })
            })
        })
        .map(str::to_string)
}

/// Cryptographic primitives named in blanked code (by the types/functions that implement them).
pub fn primitives_named(code: &str) -> Vec<&'static str> {
    let table: [(&str, &str); 4] = [
        ("Md5", "MD5"),
        ("Sha1", "SHA-1"),
        ("Hmac", "HMAC"),
        ("Aes128", "AES-128"),
    ];
    let mut out = Vec::new();
    for (ident, prim) in table {
        let found = code.match_indices(ident).any(|(p, _)| {
            let before = code[..p].chars().next_back();
            let after = code[p + ident.len()..].chars().next();
            !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                && !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        if found {
            out.push(prim);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blanking_and_counting() {
        let src = "// c\nfn a() {\n    let s = \"{ // not a comment\";\n    /* x { */\n    let c = '{';\n}\n\n#[cfg(test)]\nmod tests {\n    fn t() {}\n}\n";
        let bl = blank(src);
        assert_eq!(bl.matches('{').count(), 3, "{bl}");
        assert_eq!(code_lines(src), 4);
    }

    #[test]
    fn use_trees_expand() {
        let m = parse_uses(&blank(
            "use super::{a, b::{c, d as e}};\nuse crate::framing::aes_ctr::{self, X};\n",
        ));
        assert_eq!(m["a"], ["super", "a"]);
        assert_eq!(m["c"], ["super", "b", "c"]);
        assert_eq!(m["e"], ["super", "b", "d"]);
        assert_eq!(m["aes_ctr"], ["crate", "framing", "aes_ctr"]);
    }

    #[test]
    fn rfc6455_lives_in_its_modules() {
        assert_eq!(
            handshake_module("Rfc6455").as_deref(),
            Some("handshake/rfc6455.rs")
        );
        assert_eq!(
            codec_module("Rfc6455Codec").as_deref(),
            Some("framing/rfc6455.rs")
        );
        let c = closure(
            &[
                "handshake/rfc6455.rs".to_string(),
                "framing/rfc6455.rs".to_string(),
            ],
            "Rfc6455",
        );
        assert!(c.helpers.iter().any(|h| h.name == "accept_key"), "{c:?}");
        assert!(primitives_named(&c.code).contains(&"SHA-1"));
        assert!(c.loc() > 100);
    }
}
