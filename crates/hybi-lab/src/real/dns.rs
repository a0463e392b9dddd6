//! A tiny DNS responder for a product's namespace (UDP, 127.0.0.1:53 there): `A` queries for the lab's names
//! get their namespace address, every other name gets NXDOMAIN (`websocket.invalid` included), other types for
//! lab names get an empty answer. Nothing is ever forwarded anywhere.

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use super::products::name_ip;

/// What the responder was asked, for reports: (name, type, answer).
pub type Queries = Arc<Mutex<Vec<(String, u16, Option<Ipv4Addr>)>>>;

const A: u16 = 1;

/// Builds the answer to one query packet (`None` for packets that are not a standard query).
pub fn answer(
    q: &[u8],
    lookup: impl Fn(&str) -> Option<Ipv4Addr>,
) -> Option<(Vec<u8>, String, u16, Option<Ipv4Addr>)> {
    if q.len() < 12 {
        return None;
    }
    let flags = u16::from_be_bytes([q[2], q[3]]);
    let qdcount = u16::from_be_bytes([q[4], q[5]]);
    if flags & 0x8000 != 0 || (flags >> 11) & 0xf != 0 || qdcount != 1 {
        return None;
    }
    // one question: labels, type, class
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = *q.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        labels.push(String::from_utf8_lossy(q.get(i..i + len)?).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*q.get(i)?, *q.get(i + 1)?]);
    let qend = i + 4;
    if q.len() < qend {
        return None;
    }
    let name = labels.join(".");
    let known = lookup(&name);
    let mut out = Vec::with_capacity(qend + 16);
    out.extend_from_slice(&q[0..2]);
    let rd = flags & 0x0100;
    let rcode: u16 = if known.is_some() { 0 } else { 3 };
    out.extend_from_slice(&(0x8000 | 0x0400 | rd | 0x0080 | rcode).to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    let answers: u16 = if known.is_some() && qtype == A { 1 } else { 0 };
    out.extend_from_slice(&answers.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&q[12..qend]);
    if let (Some(ip), true) = (known, answers == 1) {
        out.extend_from_slice(&[0xc0, 0x0c]);
        out.extend_from_slice(&A.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&5u32.to_be_bytes());
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&ip.octets());
    }
    Some((out, name, qtype, known.filter(|_| answers == 1)))
}

/// Serves queries on `sock` until the task is aborted.
pub async fn serve(sock: tokio::net::UdpSocket, log: Queries) {
    let mut buf = vec![0u8; 1500];
    loop {
        let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
            continue;
        };
        if let Some((resp, name, qtype, ip)) = answer(&buf[..n], name_ip) {
            crate::util::lock(&log).push((name, qtype, ip));
            let _ = sock.send_to(&resp, peer).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.') {
            q.push(l.len() as u8);
            q.extend_from_slice(l.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&1u16.to_be_bytes());
        q
    }

    #[test]
    fn lab_names_resolve_and_others_are_nxdomain() {
        let (r, name, _, ip) = answer(&query("Attacker.Example", 1), name_ip).unwrap();
        assert_eq!(name, "attacker.example");
        assert_eq!(ip, Some(Ipv4Addr::new(127, 1, 0, 1)));
        assert_eq!(&r[0..2], &[0x12, 0x34]);
        assert_eq!(r[3] & 0xf, 0);
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1);
        assert_eq!(&r[r.len() - 4..], &[127, 1, 0, 1]);

        let (r, _, _, ip) = answer(&query("websocket.invalid", 1), name_ip).unwrap();
        assert_eq!(ip, None);
        assert_eq!(r[3] & 0xf, 3, "NXDOMAIN");
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 0);

        let (r, _, _, ip) = answer(&query("target.example", 28), name_ip).unwrap();
        assert_eq!(ip, None);
        assert_eq!(r[3] & 0xf, 0, "AAAA for a lab name: no error, no answer");
        assert!(answer(&[1, 2, 3], name_ip).is_none());
    }
}
