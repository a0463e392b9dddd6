//! Rendering a [`LabReport`]: terminal tables, JSON, and one self-contained HTML file with inline SVG charts.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::run::{AttackKind, AttackVerdict, CondKind, LabReport, Outcome, Scores, Table2Row};

/// A plain text table: a header row and rows, columns padded to their widest cell.
pub fn table(header: &[String], rows: &[Vec<String>]) -> String {
    let n = header.len();
    let mut w = vec![0usize; n];
    for r in std::iter::once(header).chain(rows.iter().map(|r| r.as_slice())) {
        for (i, c) in r.iter().enumerate().take(n) {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |r: &[String]| {
        let mut s = String::new();
        for (i, c) in r.iter().enumerate().take(n) {
            let pad = w[i] - c.chars().count();
            if i == 0 {
                s.push_str(c);
                s.push_str(&" ".repeat(pad));
            } else {
                s.push_str("  ");
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            }
        }
        s.trim_end().to_string()
    };
    let mut out = line(header);
    out.push('\n');
    out.push_str(&"-".repeat(w.iter().sum::<usize>() + 2 * (n.saturating_sub(1))));
    out.push('\n');
    for r in rows {
        out.push_str(&line(r));
        out.push('\n');
    }
    out
}

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

fn opt_ratio(r: Option<crate::run::Ratio>) -> String {
    match r {
        Some(r) => format!("{}/{} {}", r.num, r.den, pct(r.value)),
        None => "—".into(),
    }
}

fn opt_f(x: Option<f64>) -> String {
    x.map_or("—".into(), |v| format!("{v:.2}"))
}

/// A ratio as its parts (`won/tried`), for counts where the percentage says little.
fn opt_parts(r: Option<crate::run::Ratio>) -> String {
    r.map_or("—".into(), |r| format!("{}/{}", r.num, r.den))
}

/// A table's header row.
fn header_row(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// A row of fixed cells after the first (variants that were not measured).
fn fixed_row(first: &str, rest: &[&str]) -> Vec<String> {
    std::iter::once(first)
        .chain(rest.iter().copied())
        .map(str::to_owned)
        .collect()
}

fn variant_names(r: &LabReport) -> Vec<String> {
    r.variants.iter().map(|(n, _)| n.clone()).collect()
}

fn via_names(r: &LabReport) -> Vec<String> {
    r.intermediaries.iter().map(|(n, _, _)| n.clone()).collect()
}

/// Outcome of `variant` via `via`.
fn outcome(r: &LabReport, variant: &str, via: &str) -> Option<Outcome> {
    r.cells
        .iter()
        .find(|c| c.variant == variant && c.via == via)
        .map(|c| c.outcome)
}

/// Section 1: variant × intermediary.
pub fn matrix_text(r: &LabReport) -> String {
    let vias = via_names(r);
    let mut header = vec!["variant".to_string()];
    for i in 0..vias.len() {
        header.push(if i == 0 {
            "dir".into()
        } else {
            format!("M{i}")
        });
    }
    header.push("works".into());
    let mut rows = Vec::new();
    for v in variant_names(r) {
        let mut row = vec![v.clone()];
        let mut works = 0;
        let mut n = 0;
        for (i, via) in vias.iter().enumerate() {
            let cell = r.cells.iter().find(|c| c.variant == v && &c.via == via);
            let o = cell.map(|c| c.outcome);
            row.push(cell.map_or("·".into(), |c| {
                let flaky = c.works_runs > 0 && c.works_runs < c.runs;
                format!("{}{}", c.outcome.short(), if flaky { "~" } else { "" })
            }));
            if i > 0 && r.intermediaries[i].1 == "built-in" {
                if let Some(o) = o.filter(|o| *o != Outcome::NotImplemented) {
                    n += 1;
                    works += (o == Outcome::Works) as usize;
                }
            }
        }
        row.push(if n > 0 {
            format!("{works}/{n}")
        } else {
            "—".into()
        });
        rows.push(row);
    }
    let mut out = table(&header, &rows);
    out.push_str("\nok = works (echo intact), fail = clean failure, HANG = waited for a time limit, CORR = corruption, n/i = not implemented;\nevery cell is run up to 3 times and the worst run is shown; ~ = some runs worked (random masks decide)\n");
    for (i, (name, kind, _)) in r.intermediaries.iter().enumerate().skip(1) {
        let _ = writeln!(
            out,
            "  M{i:<2} {name}{}",
            if kind == "real" { " (real)" } else { "" }
        );
    }
    for (name, why) in &r.not_measured {
        let _ = writeln!(out, "  not measured: {name} ({why})");
    }
    out
}

/// Section 2: network conditions.
pub fn conditions_text(r: &LabReport) -> String {
    let header = header_row(&[
        "variant",
        "splits ok",
        "segments ok",
        "latency ok",
        "resets clean",
        "hang",
        "corr",
        "hs ms @100ms/seg",
        "hs ms @1B/1ms",
        "after head C/S",
        "stages cut before open",
    ]);
    let mut rows = Vec::new();
    for s in &r.condition_summaries {
        let count = |kind: &str, outcome: &str| {
            s.counts
                .get(kind)
                .and_then(|m| m.get(outcome))
                .copied()
                .unwrap_or(0)
        };
        let total = |kind: &str| s.counts.get(kind).map_or(0, |m| m.values().sum::<usize>());
        let all = |o: &str| {
            ["split", "segments", "latency", "reset"]
                .iter()
                .map(|k| count(k, o))
                .sum::<usize>()
        };
        rows.push(vec![
            s.variant.clone(),
            format!(
                "{}/{}{}",
                count("split", "ok"),
                total("split"),
                if s.sampled { " (sampled)" } else { "" }
            ),
            format!("{}/{}", count("segments", "ok"), total("segments")),
            format!("{}/{}", count("latency", "ok"), total("latency")),
            format!(
                "{}/{}",
                count("reset", "fail") + count("reset", "ok"),
                total("reset")
            ),
            all("HANG").to_string(),
            all("CORR").to_string(),
            s.handshake_ms_100ms_latency
                .map_or("—".into(), |v| format!("{v:.0}")),
            s.handshake_ms_1byte_1ms
                .map_or("—".into(), |v| format!("{v:.0}")),
            format!("{}/{}", s.request_after_head, s.response_after_head),
            s.reset_stages_before_open.len().to_string(),
        ]);
    }
    table(&header, &rows)
}

fn attack_count(r: &LabReport, variant: &str, kind: AttackKind) -> (usize, usize, Vec<String>) {
    let mine: Vec<_> = r
        .attacks
        .iter()
        .filter(|a| {
            a.variant == variant && a.attack == kind && a.verdict != AttackVerdict::LabError
        })
        .collect();
    let won: Vec<String> = mine
        .iter()
        .filter(|a| a.verdict == AttackVerdict::Succeeded)
        .map(|a| a.via.clone())
        .collect();
    (won.len(), mine.len(), won)
}

/// Section 3: attacks.
pub fn attacks_text(r: &LabReport) -> String {
    let header = header_row(&[
        "variant",
        "ip-hijack",
        "cache-poison",
        "smuggling",
        "cross-protocol",
        "succeeded/tried",
        "succeeded through",
    ]);
    let mut rows = Vec::new();
    for s in &r.scores {
        if !s.implemented {
            rows.push(fixed_row(
                &s.variant,
                &["n/i", "n/i", "n/i", "n/i", "—", ""],
            ));
            continue;
        }
        let mut row = vec![s.variant.clone()];
        let mut through = Vec::new();
        for k in [
            AttackKind::IpHijack,
            AttackKind::CachePoisoning,
            AttackKind::RequestSmuggling,
            AttackKind::CrossProtocol,
        ] {
            let (w, n, vias) = attack_count(r, &s.variant, k);
            row.push(format!("{w}/{n}"));
            for v in vias {
                let short = match k {
                    AttackKind::IpHijack => "hijack",
                    AttackKind::CachePoisoning => "poison",
                    AttackKind::RequestSmuggling => "smuggle",
                    AttackKind::CrossProtocol => "xproto",
                };
                through.push(format!("{short}@{v}"));
            }
        }
        row.push(opt_parts(s.attacks));
        row.push(through.join(", "));
        rows.push(row);
    }
    table(&header, &rows)
}

/// Section 4: routing.
pub fn routing_text(r: &LabReport) -> String {
    let header = header_row(&["variant", "Host router", "path router", "why not (host)"]);
    let mut rows = Vec::new();
    for v in variant_names(r) {
        let get = |router: &str| {
            r.routing
                .iter()
                .find(|x| x.variant == v && x.router == router)
        };
        let (h, p) = (get("host"), get("path"));
        if h.is_none() && p.is_none() {
            rows.push(fixed_row(&v, &["n/i", "n/i", ""]));
            continue;
        }
        rows.push(vec![
            v.clone(),
            h.map_or("—".into(), |x| x.result.clone()),
            p.map_or("—".into(), |x| x.result.clone()),
            h.filter(|x| !x.delivered)
                .map_or(String::new(), |x| x.cell.why.chars().take(70).collect()),
        ]);
    }
    table(&header, &rows)
}

fn paper_of<'a>(r: &'a LabReport, row: &Table2Row) -> Option<&'a crate::population::PaperColumn> {
    let col = row.paper_column.as_deref()?;
    r.paper_table2.iter().find(|p| p.handshake == col)
}

/// Section 5: Table II.
pub fn table2_text(r: &LabReport) -> String {
    if r.table2.is_empty() {
        return "(population not run)\n".into();
    }
    let header = header_row(&[
        "subject",
        "beside",
        "echo works",
        "connected",
        "failed",
        "spoof ignored",
        "IP hijack",
        "routed→attacker",
        "from target",
        "poisoned",
    ]);
    let mut rows = Vec::new();
    for row in &r.table2 {
        let p = paper_of(r, row);
        let cell = |m: u64, paper: Option<u64>| match paper {
            Some(x) => format!("{m} ({x})"),
            None => m.to_string(),
        };
        rows.push(vec![
            if row.paper_strawman {
                format!("{} [paper strawman]", row.subject)
            } else {
                row.subject.clone()
            },
            row.paper_column.clone().unwrap_or_default(),
            row.works.to_string(),
            cell(row.succeeded, p.map(|p| p.succeeded)),
            cell(row.failed, p.map(|p| p.failed)),
            cell(row.spoof_ignored, p.map(|p| p.spoof_ignored)),
            cell(row.ip_hijack, p.map(|p| p.ip_hijack)),
            cell(row.routed_to_attacker, p.map(|p| p.routed_to_attacker)),
            cell(row.cached_from_target, p.map(|p| p.cached_from_target)),
            cell(row.cache_poisoned, p.map(|p| p.cache_poisoned)),
        ]);
    }
    let mut out = table(&header, &rows);
    out.push_str(
        "\nmeasured impressions of 54,534 (paper's figure in parentheses for the column a row stands beside). \
         `echo works`: a message went through and came back (the paper could not measure it); `connected`: the \
         handshake completed (the paper's \"succeeded\"). `from target` is measured on every class but `blocked` \
         (5,316 impressions, no connection at all).\n",
    );
    out
}

/// Section 6: implementability.
pub fn implementability_text(r: &LabReport) -> String {
    let header = header_row(&[
        "variant",
        "LOC",
        "steps",
        "round trips",
        "bytes to 1st msg",
        "after head C/S",
        "msg overhead",
        "payload in clear",
        "primitives",
        "modules",
    ]);
    let mut rows = Vec::new();
    for m in &r.implementability {
        let e = &m.exchange;
        let mut modules: Vec<String> = m.files.iter().map(|(f, _)| f.clone()).collect();
        if !m.helpers.is_empty() {
            modules.push(format!("+{} helpers", m.helpers.len()));
        }
        rows.push(vec![
            m.variant.clone(),
            m.loc.to_string(),
            e.steps.to_string(),
            e.round_trips.to_string(),
            e.bytes_to_first_message.to_string(),
            format!("{}/{}", e.request_after_head, e.response_after_head),
            e.message_overhead.to_string(),
            if e.payload_in_clear { "yes" } else { "no" }.into(),
            if m.primitives.is_empty() {
                "none".into()
            } else {
                m.primitives.join("+")
            },
            modules.join(" "),
        ]);
    }
    for (v, e) in &r.implementability_errors {
        rows.push(vec![v.clone(), format!("error: {e}")]);
    }
    table(&header, &rows)
}

/// Section 7: variant × criterion, with the formulas.
pub fn scores_text(r: &LabReport) -> String {
    let mut out = scores_table(r);
    out.push_str("\nformulas:\n");
    for (c, f) in &r.formulas {
        let _ = writeln!(out, "  {c}: {f}");
    }
    out
}

/// The variant × criterion table alone.
pub fn scores_table(r: &LabReport) -> String {
    let header = header_row(&[
        "variant",
        "security",
        "attacks won",
        "compat",
        "reach",
        "network",
        "routing",
        "implement.",
    ]);
    let mut rows = Vec::new();
    for s in &r.scores {
        if !s.implemented {
            rows.push(fixed_row(
                &s.variant,
                &["not implemented", "", "", "", "", "", ""],
            ));
            continue;
        }
        rows.push(vec![
            s.variant.clone(),
            opt_f(s.security),
            opt_parts(s.attacks),
            opt_ratio(s.compatibility),
            s.reach.map_or("—".into(), |x| pct(x.value)),
            opt_ratio(s.network),
            opt_parts(s.routing),
            opt_f(s.implementability),
        ]);
    }
    let mut out = table(&header, &rows);
    if r.scores.iter().any(|s| s.compatibility_real.is_some()) {
        out.push_str("\nreal intermediaries:\n");
        for s in &r.scores {
            let _ = writeln!(
                out,
                "  {:16} {}",
                s.variant,
                opt_ratio(s.compatibility_real)
            );
        }
    }
    out
}

/// The whole terminal report.
pub fn text(r: &LabReport) -> String {
    let mut out = String::new();
    let implemented = r
        .variants
        .iter()
        .filter(|(_, s)| s == "implemented")
        .count();
    let _ = writeln!(
        out,
        "hybi lab: {} variants ({} implemented) × {} paths (direct + {} intermediaries){}",
        r.variants.len(),
        implemented,
        r.intermediaries.len(),
        r.intermediaries.len() - 1,
        if r.quick { ", --quick" } else { "" }
    );
    for (name, why) in r.variants.iter().filter(|(_, s)| s != "implemented") {
        let _ = writeln!(out, "  {name}: {why}");
    }
    let sections: [(&str, String); 7] = [
        (
            "1. Outcome per intermediary (echo through each path)",
            matrix_text(r),
        ),
        (
            "2. Network conditions (direct path; every split point, segments, latency, resets)",
            conditions_text(r),
        ),
        ("3. Attacks (succeeded / tried)", attacks_text(r)),
        ("4. Routing through stock reverse proxies", routing_text(r)),
        (
            "5. Huang et al. Table II re-run (impressions of 54,534; paper in parentheses)",
            table2_text(r),
        ),
        (
            "6. Implementability (measured from code and an in-memory exchange)",
            implementability_text(r),
        ),
        ("7. Criteria: variant × criterion", scores_text(r)),
    ];
    for (title, body) in sections {
        let _ = writeln!(out, "\n{title}\n");
        out.push_str(&body);
    }
    let _ = writeln!(
        out,
        "\n{} cells, {} condition cells, {} attack attempts, {} routing runs in {:.1} s",
        r.cells.len(),
        r.conditions.len(),
        r.attacks.len(),
        r.routing.len(),
        r.elapsed_s
    );
    out
}

/// The report as pretty JSON.
pub fn json(r: &LabReport) -> String {
    serde_json::to_string_pretty(r).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Red (0) → yellow → green (1).
fn color(v: f64) -> String {
    let v = v.clamp(0.0, 1.0);
    format!("hsl({:.0}, 70%, 55%)", v * 120.0)
}

fn outcome_color(o: Outcome) -> &'static str {
    match o {
        Outcome::Works => "#4caf50",
        Outcome::CleanFailure => "#f0b429",
        Outcome::Hang => "#d64545",
        Outcome::Corruption => "#8e44ad",
        Outcome::NotImplemented => "#cfcfcf",
        Outcome::LabError => "#555555",
    }
}

/// Heat map variant × criterion as inline SVG.
pub fn heatmap_svg(scores: &[Scores]) -> String {
    let cols = [
        "security",
        "compatibility",
        "reach",
        "network",
        "routing",
        "implementability",
    ];
    let (x0, y0, cw, ch) = (140.0, 40.0, 110.0, 26.0);
    let w = x0 + cw * cols.len() as f64 + 10.0;
    let h = y0 + ch * scores.len() as f64 + 10.0;
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    for (j, c) in cols.iter().enumerate() {
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle" font-weight="bold">{c}</text>"#,
            x0 + cw * j as f64 + cw / 2.0,
            y0 - 12.0
        );
    }
    for (i, sc) in scores.iter().enumerate() {
        let y = y0 + ch * i as f64;
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            x0 - 8.0,
            y + ch / 2.0 + 4.0,
            esc(&sc.variant)
        );
        let vals = [
            sc.security,
            sc.compatibility.map(|r| r.value),
            sc.reach.map(|r| r.value),
            sc.network.map(|r| r.value),
            sc.routing.map(|r| r.value),
            sc.implementability,
        ];
        for (j, v) in vals.iter().enumerate() {
            let x = x0 + cw * j as f64;
            let (fill, label) = match (sc.implemented, v) {
                (false, _) => ("#e0e0e0".to_string(), "n/i".to_string()),
                (true, None) => ("#f5f5f5".to_string(), "—".to_string()),
                (true, Some(v)) => (color(*v), format!("{v:.2}")),
            };
            let _ = write!(
                s,
                r##"<rect x="{x}" y="{y}" width="{}" height="{}" fill="{fill}" stroke="#fff"/><text x="{}" y="{}" text-anchor="middle">{label}</text>"##,
                cw - 2.0,
                ch - 2.0,
                x + cw / 2.0,
                y + ch / 2.0 + 4.0
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// Stacked bars: outcome shares through the built-in intermediaries, per variant.
pub fn bars_svg(r: &LabReport) -> String {
    let builtin: Vec<&str> = r
        .intermediaries
        .iter()
        .filter(|(_, k, _)| k == "built-in")
        .map(|(n, _, _)| n.as_str())
        .collect();
    let names = variant_names(r);
    let (x0, y0, bw, bh) = (140.0, 30.0, 520.0, 20.0);
    let h = y0 + (bh + 6.0) * names.len() as f64 + 40.0;
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{h}" font-family="sans-serif" font-size="12">"#,
        x0 + bw + 80.0
    );
    let order = [
        Outcome::Works,
        Outcome::CleanFailure,
        Outcome::Hang,
        Outcome::Corruption,
        Outcome::NotImplemented,
    ];
    for (i, v) in names.iter().enumerate() {
        let y = y0 + (bh + 6.0) * i as f64;
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            x0 - 8.0,
            y + bh / 2.0 + 4.0,
            esc(v)
        );
        let mut counts: BTreeMap<Outcome, usize> = BTreeMap::new();
        for via in &builtin {
            if let Some(o) = outcome(r, v, via) {
                *counts.entry(o).or_default() += 1;
            }
        }
        let total: usize = counts.values().sum();
        let mut x = x0;
        for o in order {
            let n = counts.get(&o).copied().unwrap_or(0);
            if n == 0 || total == 0 {
                continue;
            }
            let wd = bw * n as f64 / total as f64;
            let _ = write!(
                s,
                r#"<rect x="{x:.1}" y="{y}" width="{wd:.1}" height="{bh}" fill="{}"><title>{}: {n}</title></rect>"#,
                outcome_color(o),
                o.short()
            );
            x += wd;
        }
        let works = counts.get(&Outcome::Works).copied().unwrap_or(0);
        let _ = write!(
            s,
            r#"<text x="{}" y="{}">{}</text>"#,
            x0 + bw + 6.0,
            y + bh / 2.0 + 4.0,
            if counts.contains_key(&Outcome::NotImplemented) {
                "n/i".to_string()
            } else {
                format!("{works}/{total}")
            }
        );
    }
    let ly = y0 + (bh + 6.0) * names.len() as f64 + 14.0;
    let mut lx = x0;
    for (o, label) in [
        (Outcome::Works, "works"),
        (Outcome::CleanFailure, "clean failure"),
        (Outcome::Hang, "hang"),
        (Outcome::Corruption, "corruption"),
        (Outcome::NotImplemented, "not implemented"),
    ] {
        let _ = write!(
            s,
            r#"<rect x="{lx}" y="{ly}" width="12" height="12" fill="{}"/><text x="{}" y="{}">{label}</text>"#,
            outcome_color(o),
            lx + 16.0,
            ly + 10.0
        );
        lx += 110.0;
    }
    s.push_str("</svg>");
    s
}

fn html_table(header: &[String], rows: &[Vec<(String, Option<String>)>]) -> String {
    let mut s = String::from("<table><thead><tr>");
    for h in header {
        let _ = write!(s, "<th>{}</th>", esc(h));
    }
    s.push_str("</tr></thead><tbody>");
    for r in rows {
        s.push_str("<tr>");
        for (text, bg) in r {
            match bg {
                Some(c) => {
                    let _ = write!(s, r#"<td style="background:{c}">{}</td>"#, esc(text));
                }
                None => {
                    let _ = write!(s, "<td>{}</td>", esc(text));
                }
            }
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    s
}

fn pre(text: &str) -> String {
    format!("<pre>{}</pre>", esc(text))
}

/// The report as one self-contained HTML page (inline CSS and SVG, no external resources).
pub fn html(r: &LabReport) -> String {
    let mut s = String::new();
    s.push_str(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>hybi lab report</title><style>\
         body{font-family:sans-serif;margin:24px;max-width:1500px;color:#222}\
         table{border-collapse:collapse;font-size:12px;margin:8px 0}\
         td,th{border:1px solid #ddd;padding:3px 6px;text-align:center}\
         td:first-child,th:first-child{text-align:left}\
         pre{font-size:11px;background:#f7f7f7;padding:8px;overflow-x:auto}\
         h2{margin-top:32px;border-bottom:1px solid #ccc}\
         .note{color:#555;font-size:13px}</style></head><body>",
    );
    let implemented = r
        .variants
        .iter()
        .filter(|(_, s)| s == "implemented")
        .count();
    let _ = write!(
        s,
        "<h1>hybi lab</h1><p class=\"note\">{} variants ({} implemented) × {} paths, {} cells, {} condition cells, \
         {} attack attempts, {} routing runs, {:.1} s on {} threads{}. Every cell below comes from a run.</p>",
        r.variants.len(),
        implemented,
        r.intermediaries.len(),
        r.cells.len(),
        r.conditions.len(),
        r.attacks.len(),
        r.routing.len(),
        r.elapsed_s,
        r.threads,
        if r.quick { " (--quick)" } else { "" }
    );
    for (name, why) in r.variants.iter().filter(|(_, s)| s != "implemented") {
        let _ = write!(s, "<p class=\"note\">{}: {}</p>", esc(name), esc(why));
    }

    s.push_str("<h2>Variant × criterion</h2>");
    s.push_str(&heatmap_svg(&r.scores));
    s.push_str("<ul class=\"note\">");
    for (c, f) in &r.formulas {
        let _ = write!(s, "<li><b>{}</b>: {}</li>", esc(c), esc(f));
    }
    s.push_str("</ul>");
    s.push_str(&pre(&scores_table(r)));

    s.push_str("<h2>Success through the built-in intermediaries</h2>");
    s.push_str(&bars_svg(r));

    s.push_str("<h2>Outcome per intermediary</h2>");
    let vias = via_names(r);
    let mut header = vec!["variant".to_string()];
    header.extend(vias.iter().cloned());
    let rows: Vec<Vec<(String, Option<String>)>> = variant_names(r)
        .iter()
        .map(|v| {
            let mut row = vec![(v.clone(), None)];
            for via in &vias {
                let c = r.cells.iter().find(|c| &c.variant == v && &c.via == via);
                row.push(match c {
                    Some(c) => (
                        c.outcome.short().to_string(),
                        Some(outcome_color(c.outcome).to_string()),
                    ),
                    None => ("·".into(), None),
                });
            }
            row
        })
        .collect();
    s.push_str(&html_table(&header, &rows));
    s.push_str("<ul class=\"note\">");
    for (name, kind, doc) in r.intermediaries.iter().skip(1) {
        let _ = write!(
            s,
            "<li><b>{}</b> ({}): {}</li>",
            esc(name),
            esc(kind),
            esc(doc)
        );
    }
    for (name, why) in &r.not_measured {
        let _ = write!(
            s,
            "<li><b>{}</b>: not measured ({})</li>",
            esc(name),
            esc(why)
        );
    }
    s.push_str("</ul>");

    s.push_str("<h2>Network conditions</h2>");
    s.push_str(&pre(&conditions_text(r)));
    s.push_str("<h2>Attacks</h2>");
    s.push_str(&pre(&attacks_text(r)));
    s.push_str("<h2>Routing</h2>");
    s.push_str(&pre(&routing_text(r)));
    s.push_str("<h2>Huang et al. Table II, re-run</h2>");
    s.push_str(&pre(&table2_text(r)));
    s.push_str("<h2>Implementability</h2>");
    s.push_str(&pre(&implementability_text(r)));

    s.push_str("<h2>Cells that did not work (first 200)</h2>");
    let header = header_row(&["variant", "via / condition", "outcome", "why"]);
    let rows: Vec<Vec<(String, Option<String>)>> = r
        .cells
        .iter()
        .map(|c| (c, c.via.clone()))
        .chain(
            r.conditions
                .iter()
                .filter(|c| c.kind != CondKind::Reset)
                .map(|c| (&c.cell, c.cell.condition.clone())),
        )
        .filter(|(c, _)| !matches!(c.outcome, Outcome::Works | Outcome::NotImplemented))
        .take(200)
        .map(|(c, where_)| {
            vec![
                (c.variant.clone(), None),
                (where_, None),
                (
                    c.outcome.short().to_string(),
                    Some(outcome_color(c.outcome).to_string()),
                ),
                (c.why.clone(), None),
            ]
        })
        .collect();
    s.push_str(&html_table(&header, &rows));
    s.push_str("</body></html>\n");
    s
}
