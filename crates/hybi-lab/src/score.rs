//! The criteria, computed from the measured cells. Every formula is in [`FORMULAS`] (printed with the report)
//! and each function here is that formula and nothing else.

use hybi::Variant;

use crate::implement::Implementability;
use crate::run::{
    condition_ok, AttackCell, AttackVerdict, Cell, ConditionCell, LabReport, Outcome, Ratio,
    RoutingCell, Scores, Table2Row,
};

/// `(criterion, formula)`.
pub const FORMULAS: &[(&str, &str)] = &[
    (
        "security",
        "1 − S/T, where T = attacks tried against the variant (IP hijack and cache poisoning through every \
         built-in intermediary and direct, request smuggling through every intermediary, the cross-protocol \
         check against 4 non-WebSocket servers) and S = those that succeeded. A try whose handshake did not \
         complete counts as tried and not succeeded.",
    ),
    (
        "compatibility",
        "W/N, where N = built-in intermediaries (direct excluded) and W = those through which the handshake \
         completed and the payload came back intact (outcome `works`). Real intermediaries, when measured, \
         get their own W/N.",
    ),
    (
        "reach",
        "E/54,534: impressions of the Table II population (each class weighted by the impressions it stands \
         for) through whose path the handshake completed and a message came back intact (the paper could only \
         count completed handshakes; that count is printed beside it in the Table II section).",
    ),
    (
        "network",
        "G/M, where M = network-condition cells on the direct path (a cut at every byte boundary up to the \
         first message, 1/2/3/7/64-byte segments, 10 ms and 100 ms per segment, 1-byte segments at 1 ms, a \
         reset at each of 7 stages) and G = those with the expected result: `works` without a reset, `works` \
         or a clean failure with one (a hang or corruption is never expected).",
    ),
    (
        "routing",
        "D/2: stock reverse proxies (the upgrade-aware row routing by Host header, and by path prefix) that \
         delivered the handshake to the right backend with the echo working.",
    ),
    (
        "implementability",
        "mean of five ratios to the best implemented variant: min LOC / LOC, min steps / steps, min round \
         trips / round trips, min bytes-to-first-message / bytes, and 1/(1 + P) for P cryptographic \
         primitives. LOC = non-blank, non-comment, non-test lines of the handshake module client_for \
         dispatches to and the framing module(s) of the session's codec(s), plus helper functions of other \
         non-infrastructure modules they call (transitively; optional extensions such as permessage-deflate \
         are not counted). Steps = points at which a side emits bytes \
         when each is fed the other's bytes one at a time. Round trips = server flights the client waits for \
         before its first message. Bytes = handshake bytes both ways before it. Primitives = MD5 / SHA-1 / \
         HMAC / AES-128 named in that code, plus CSPRNG if handshakes differ across seeds, plus XOR mask if \
         frames are masked per frame without a named cipher.",
    ),
];

fn attack_ratio(attacks: &[AttackCell], variant: &str) -> Option<Ratio> {
    let mine: Vec<&AttackCell> = attacks
        .iter()
        .filter(|a| a.variant == variant && a.verdict != AttackVerdict::LabError)
        .collect();
    if mine.is_empty() {
        return None;
    }
    let s = mine
        .iter()
        .filter(|a| a.verdict == AttackVerdict::Succeeded)
        .count();
    Some(Ratio::new(s as f64, mine.len() as f64))
}

/// Security: `1 − succeeded / tried`, with the ratio.
pub fn security(attacks: &[AttackCell], variant: &str) -> Option<(Ratio, f64)> {
    attack_ratio(attacks, variant).map(|r| (r, 1.0 - r.value))
}

/// Compatibility: built-in (`real = false`) or real intermediaries that work / measured.
pub fn compatibility(
    cells: &[Cell],
    variant: &str,
    kind_of: impl Fn(&str) -> Option<bool>,
    real: bool,
) -> Option<Ratio> {
    let mine: Vec<&Cell> = cells
        .iter()
        .filter(|c| c.variant == variant && kind_of(&c.via) == Some(real))
        .filter(|c| !matches!(c.outcome, Outcome::NotImplemented | Outcome::LabError))
        .collect();
    if mine.is_empty() {
        return None;
    }
    let w = mine.iter().filter(|c| c.outcome == Outcome::Works).count();
    Some(Ratio::new(w as f64, mine.len() as f64))
}

/// Reach: impressions through whose path the echo works / impressions.
pub fn reach(table2: &[Table2Row], variant: &str) -> Option<Ratio> {
    table2
        .iter()
        .find(|r| r.subject == variant && !r.paper_strawman)
        .map(|r| Ratio::new(r.works as f64, (r.succeeded + r.failed) as f64))
}

/// Network: condition cells with the expected result / condition cells.
pub fn network(conditions: &[ConditionCell], variant: &str) -> Option<Ratio> {
    let mine: Vec<&ConditionCell> = conditions
        .iter()
        .filter(|c| c.cell.variant == variant && c.cell.outcome != Outcome::LabError)
        .collect();
    if mine.is_empty() {
        return None;
    }
    let g = mine
        .iter()
        .filter(|c| condition_ok(c.kind, c.cell.outcome))
        .count();
    Some(Ratio::new(g as f64, mine.len() as f64))
}

/// Routing: routers that delivered / routers tried.
pub fn routing(routing: &[RoutingCell], variant: &str) -> Option<Ratio> {
    let mine: Vec<&RoutingCell> = routing.iter().filter(|r| r.variant == variant).collect();
    if mine.is_empty() {
        return None;
    }
    let d = mine.iter().filter(|r| r.delivered).count();
    Some(Ratio::new(d as f64, mine.len() as f64))
}

/// Implementability of `m` relative to the best of `all` (see [`FORMULAS`]).
pub fn implementability(m: &Implementability, all: &[Implementability]) -> f64 {
    let min = |f: &dyn Fn(&Implementability) -> usize| {
        all.iter().map(f).filter(|&x| x > 0).min().unwrap_or(1) as f64
    };
    let ratio = |best: f64, x: usize| if x == 0 { 1.0 } else { best / x as f64 };
    let loc = ratio(min(&|i| i.loc), m.loc);
    let steps = ratio(min(&|i| i.exchange.steps), m.exchange.steps);
    let rtt = ratio(min(&|i| i.exchange.round_trips), m.exchange.round_trips);
    let bytes = ratio(
        min(&|i| i.exchange.bytes_to_first_message),
        m.exchange.bytes_to_first_message,
    );
    let prim = 1.0 / (1.0 + m.primitives.len() as f64);
    (loc + steps + rtt + bytes + prim) / 5.0
}

/// Every criterion for every variant of `variants`.
pub fn scores(r: &LabReport, variants: &[Variant]) -> Vec<Scores> {
    let kind_of = |via: &str| {
        r.intermediaries
            .iter()
            .find(|(n, _, _)| n == via)
            .and_then(|(_, k, _)| match k.as_str() {
                "built-in" => Some(false),
                "real" => Some(true),
                _ => None,
            })
    };
    variants
        .iter()
        .map(|v| {
            let name = v.name();
            let implemented = r
                .variants
                .iter()
                .any(|(n, s)| n == name && s == "implemented");
            let sec = security(&r.attacks, name);
            Scores {
                variant: name.to_string(),
                implemented,
                attacks: sec.map(|s| s.0),
                security: sec.map(|s| s.1),
                compatibility: compatibility(&r.cells, name, kind_of, false),
                compatibility_real: compatibility(&r.cells, name, kind_of, true),
                reach: reach(&r.table2, name),
                network: network(&r.conditions, name),
                routing: routing(&r.routing, name),
                implementability: r
                    .implementability
                    .iter()
                    .find(|m| m.variant == name)
                    .map(|m| implementability(m, &r.implementability)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::implement::Exchange;
    use crate::run::{AttackKind, CondKind};

    fn attack(v: &str, verdict: AttackVerdict) -> AttackCell {
        AttackCell {
            variant: v.into(),
            attack: AttackKind::IpHijack,
            via: "m".into(),
            verdict,
            evidence: vec![],
            time_ms: 0.0,
        }
    }

    fn cell(v: &str, via: &str, outcome: Outcome) -> Cell {
        crate::run::tests_support::cell(v, via, outcome)
    }

    #[test]
    fn security_is_one_minus_success_share() {
        let a = vec![
            attack("x", AttackVerdict::Succeeded),
            attack("x", AttackVerdict::Failed),
            attack("x", AttackVerdict::HandshakeFailed),
            attack("x", AttackVerdict::Failed),
            attack("x", AttackVerdict::LabError),
            attack("y", AttackVerdict::Succeeded),
        ];
        let (r, s) = security(&a, "x").unwrap();
        assert_eq!((r.num, r.den), (1.0, 4.0));
        assert!((s - 0.75).abs() < 1e-9);
        assert!(security(&a, "z").is_none());
    }

    #[test]
    fn compatibility_counts_works_among_builtin_models() {
        let cells = vec![
            cell("x", "direct", Outcome::Works),
            cell("x", "a", Outcome::Works),
            cell("x", "b", Outcome::Hang),
            cell("x", "c", Outcome::Corruption),
            cell("x", "real1", Outcome::Works),
        ];
        let kind = |v: &str| match v {
            "a" | "b" | "c" => Some(false),
            "real1" => Some(true),
            _ => None,
        };
        let r = compatibility(&cells, "x", kind, false).unwrap();
        assert_eq!((r.num, r.den), (1.0, 3.0));
        let r = compatibility(&cells, "x", kind, true).unwrap();
        assert_eq!((r.num, r.den), (1.0, 1.0));
    }

    #[test]
    fn network_expects_works_or_clean_failure_on_reset() {
        let mk = |kind, outcome| ConditionCell {
            kind,
            cell: cell("x", "direct", outcome),
        };
        let c = vec![
            mk(CondKind::Split, Outcome::Works),
            mk(CondKind::Split, Outcome::Hang),
            mk(CondKind::Reset, Outcome::CleanFailure),
            mk(CondKind::Reset, Outcome::Hang),
            mk(CondKind::Latency, Outcome::CleanFailure),
        ];
        let r = network(&c, "x").unwrap();
        assert_eq!((r.num, r.den), (2.0, 5.0));
    }

    #[test]
    fn reach_and_routing_ratios() {
        let row = Table2Row {
            subject: "x".into(),
            paper_strawman: false,
            paper_column: None,
            succeeded: 41_000,
            works: 40_000,
            failed: 13_534,
            spoof_ignored: 0,
            ip_hijack: 0,
            routed_to_attacker: 0,
            cached_from_target: 0,
            cache_poisoned: 0,
            classes: vec![],
        };
        let r = reach(&[row], "x").unwrap();
        assert!((r.value - 40_000.0 / 54_534.0).abs() < 1e-9);
        let rc = |d| RoutingCell {
            variant: "x".into(),
            router: "host".into(),
            result: String::new(),
            delivered: d,
            cell: cell("x", "r", Outcome::Works),
        };
        let r = routing(&[rc(true), rc(false)], "x").unwrap();
        assert_eq!(r.value, 0.5);
    }

    #[test]
    fn implementability_is_relative_to_the_best() {
        let mk = |loc, steps, rtt, bytes, prims: usize| Implementability {
            variant: String::new(),
            loc,
            primitives: vec!["p".into(); prims],
            exchange: Exchange {
                steps,
                round_trips: rtt,
                bytes_to_first_message: bytes,
                ..Exchange::default()
            },
            ..Implementability::default()
        };
        let best = mk(100, 2, 1, 200, 0);
        let worse = mk(200, 4, 2, 400, 3);
        let all = vec![best.clone(), worse.clone()];
        assert!((implementability(&best, &all) - 1.0).abs() < 1e-9);
        assert!((implementability(&worse, &all) - (0.5 * 4.0 + 0.25) / 5.0).abs() < 1e-9);
    }
}
