//! The DNS wire format (RFC 1035) as far as the cluster DNS needs it: parse a query's header and first
//! question, and build answers (A, SRV) or an empty NOERROR/NXDOMAIN reply. Names are compared in lower
//! case. No compression on output except pointers back to the question name, which is what every stub
//! resolver expects. Pure.

use std::net::Ipv4Addr;

pub const TYPE_A: u16 = 1;
pub const TYPE_SRV: u16 = 33;
pub const CLASS_IN: u16 = 1;
pub const RCODE_NOERROR: u8 = 0;
pub const RCODE_FORMERR: u8 = 1;
pub const RCODE_SERVFAIL: u8 = 2;
pub const RCODE_NXDOMAIN: u8 = 3;

/// The question of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub id: u16,
    /// Recursion desired, echoed in the answer.
    pub rd: bool,
    /// Lower case, without the trailing dot (`my-nginx.default.svc.cluster.local`).
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
    /// Byte range of the question section in the query (copied into the answer).
    pub question_end: usize,
}

/// One answer record's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rdata {
    A(Ipv4Addr),
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Owner name, lower case without the trailing dot.
    pub name: String,
    pub ttl: u32,
    pub data: Rdata,
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]))
}

/// Parses the header and the first question. `None` for anything that is not a query with at least one
/// question (such packets get no answer).
pub fn parse_query(b: &[u8]) -> Option<Question> {
    if b.len() < 12 || b[2] & 0x80 != 0 {
        return None;
    }
    let id = u16_at(b, 0)?;
    let rd = b[2] & 0x01 != 0;
    if u16_at(b, 4)? == 0 {
        return None;
    }
    let mut i = 12;
    let mut labels: Vec<String> = Vec::new();
    loop {
        let len = usize::from(*b.get(i)?);
        i += 1;
        if len == 0 {
            break;
        }
        // Queries never use compression pointers in their first name.
        if len > 63 {
            return None;
        }
        let label = b.get(i..i + len)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16_at(b, i)?;
    let qclass = u16_at(b, i + 2)?;
    Some(Question {
        id,
        rd,
        name: labels.join("."),
        qtype,
        qclass,
        question_end: i + 4,
    })
}

fn push_name(out: &mut Vec<u8>, name: &str) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let l = &label.as_bytes()[..label.len().min(63)];
        out.push(l.len() as u8);
        out.extend_from_slice(l);
    }
    out.push(0);
}

/// The reply to `query` (the raw query `q`): header with QR, AA (authoritative for the cluster zone),
/// RD copied, RA set, the question copied, then `answers` and `additional`.
pub fn build_reply(
    query: &[u8],
    q: &Question,
    rcode: u8,
    answers: &[Answer],
    additional: &[Answer],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(&q.id.to_be_bytes());
    out.push(0x80 | 0x04 | u8::from(q.rd));
    out.push(0x80 | (rcode & 0x0f));
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&(additional.len() as u16).to_be_bytes());
    out.extend_from_slice(&query[12..q.question_end]);
    for a in answers.iter().chain(additional) {
        if a.name == q.name {
            out.extend_from_slice(&[0xc0, 12]);
        } else {
            push_name(&mut out, &a.name);
        }
        let (rtype, rdata) = match &a.data {
            Rdata::A(ip) => (TYPE_A, ip.octets().to_vec()),
            Rdata::Srv {
                priority,
                weight,
                port,
                target,
            } => {
                let mut d = Vec::new();
                d.extend_from_slice(&priority.to_be_bytes());
                d.extend_from_slice(&weight.to_be_bytes());
                d.extend_from_slice(&port.to_be_bytes());
                push_name(&mut d, target);
                (TYPE_SRV, d)
            }
        };
        out.extend_from_slice(&rtype.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&a.ttl.to_be_bytes());
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(&rdata);
    }
    out
}

/// A query for `name` and `qtype` with id `id` and RD set (the server's upstream queries, and tests).
pub fn build_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    push_name(&mut out, name);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out
}

/// The response code and the answer count of a reply (tests, the upstream forwarder).
pub fn reply_summary(b: &[u8]) -> Option<(u16, u8, u16)> {
    if b.len() < 12 || b[2] & 0x80 == 0 {
        return None;
    }
    Some((u16_at(b, 0)?, b[3] & 0x0f, u16_at(b, 6)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_round_trips_and_the_reply_points_at_the_question() {
        let q = build_query(0x1234, "My-Nginx.default.svc.cluster.local", TYPE_A);
        let parsed = parse_query(&q).unwrap();
        assert_eq!(parsed.name, "my-nginx.default.svc.cluster.local");
        assert_eq!((parsed.id, parsed.qtype, parsed.rd), (0x1234, TYPE_A, true));
        let reply = build_reply(
            &q,
            &parsed,
            RCODE_NOERROR,
            &[Answer {
                name: parsed.name.clone(),
                ttl: 5,
                data: Rdata::A(Ipv4Addr::new(10, 96, 0, 12)),
            }],
            &[],
        );
        assert_eq!(reply_summary(&reply), Some((0x1234, 0, 1)));
        // Answer: pointer to offset 12, type A, class IN, ttl 5, rdlength 4, the address.
        assert_eq!(
            &reply[reply.len() - 16..],
            &[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 96, 0, 12]
        );
        // A reply is not a query; a truncated packet is nothing.
        assert!(parse_query(&reply).is_none());
        assert!(parse_query(&q[..q.len() - 3]).is_none());
    }

    #[test]
    fn srv_rdata_names_its_target_uncompressed() {
        let q = build_query(7, "_http._tcp.web.default.svc.cluster.local", TYPE_SRV);
        let parsed = parse_query(&q).unwrap();
        let reply = build_reply(
            &q,
            &parsed,
            RCODE_NOERROR,
            &[Answer {
                name: parsed.name.clone(),
                ttl: 5,
                data: Rdata::Srv {
                    priority: 0,
                    weight: 100,
                    port: 8080,
                    target: "web.default.svc.cluster.local".into(),
                },
            }],
            &[],
        );
        let mut target = Vec::new();
        push_name(&mut target, "web.default.svc.cluster.local");
        assert!(reply.ends_with(&target));
        let srv = &reply[reply.len() - target.len() - 6..reply.len() - target.len()];
        assert_eq!(srv, &[0, 0, 0, 100, 0x1f, 0x90]);
    }
}
