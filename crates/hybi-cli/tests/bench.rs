//! `hybi bench` end to end, hybi alone (`--no-peers --no-uws --quick`): the harness starts the
//! real `hybi serve` (both engines), finds its address, and gets throughput, handshake (per variant), idle and
//! latency figures from it. Figures are not judged here (no timed assertions: the targets live
//! in the benchmark's report, docs/benchmarks.md); only that every measurement ran.
//!
//! The harness once could not read `hybi serve`'s `listening on ADDR` line, so `hybi bench`
//! measured every peer but never hybi; this test is what would have said so.

use std::process::Command;

#[test]
fn hybi_bench_measures_hybi_itself() {
    let dir = std::env::temp_dir().join(format!("hybi-bench-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("report.json");
    let markdown = dir.join("report.md");
    let out = Command::new(env!("CARGO_BIN_EXE_hybi"))
        .args(["bench", "--quick", "--no-uws", "--no-peers"])
        .args(["--variants", "rfc6455,hixie-76,hybi-04"])
        .arg("--json")
        .arg(&json)
        .arg("--markdown")
        .arg(&markdown)
        .output()
        .expect("run hybi bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "hybi bench failed: {stderr}");
    // Progress reaches a log too (stderr is a pipe here, where the bar hides itself).
    assert!(stderr.contains("ok  hybi"), "no progress lines: {stderr}");
    assert!(
        stderr.contains("ok  hybi reactor"),
        "no progress lines: {stderr}"
    );

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("JSON report")).expect("valid JSON");
    let servers = report["servers"].as_array().expect("servers");
    let names: Vec<&str> = servers
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["hybi", "hybi reactor"], "hybi's two engines alone");
    for hybi in servers {
        check_measured(hybi);
    }
    let md = std::fs::read_to_string(&markdown).expect("Markdown report");
    assert!(md.contains("hybi reactor"), "{md}");
    assert!(!md.contains("did not print"), "{md}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every measurement of one server ran and produced a figure.
fn check_measured(hybi: &serde_json::Value) {
    let throughput = hybi["throughput"].as_array().expect("throughput");
    assert_eq!(throughput.len(), 3, "three points: {throughput:?}");
    for point in throughput {
        assert!(point["error"].is_null(), "{point}");
        assert!(
            point["msgs_per_sec"].as_f64().unwrap_or(0.0) > 0.0,
            "{point}"
        );
        assert!(
            point["cpu_us_per_msg"].as_f64().unwrap_or(0.0) > 0.0,
            "{point}"
        );
    }

    let handshakes = hybi["handshakes"].as_array().expect("handshakes");
    let variants: Vec<&str> = handshakes
        .iter()
        .map(|h| h["variant"].as_str().unwrap())
        .collect();
    assert_eq!(variants, ["rfc6455", "hixie-76", "hybi-04"]);
    for h in handshakes {
        assert!(h["error"].is_null(), "{h}");
        assert_eq!(h["failed"], 0, "{h}");
        assert!(h["per_sec"].as_f64().unwrap_or(0.0) > 0.0, "{h}");
    }

    let idle = &hybi["idle"];
    assert!(idle["error"].is_null(), "{idle}");
    assert!(idle["kib_per_conn"].as_f64().unwrap_or(0.0) > 0.0, "{idle}");
    let latency = &hybi["latency"];
    assert!(latency["error"].is_null(), "{latency}");
    assert!(latency["p99_us"].as_f64().unwrap_or(0.0) > 0.0, "{latency}");
}
