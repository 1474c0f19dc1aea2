//! The wire format of a grpc probe (docs/probes.md): one `grpc.health.v1.Health/Check` call over HTTP/2
//! cleartext (h2c with prior knowledge, no TLS, as the kubelet dials), hand-encoded because the exchange
//! is a handful of frames — the client preface and SETTINGS, one HEADERS and one DATA frame out; SETTINGS,
//! HEADERS, DATA and trailers back. The answer counts as SERVING only from a decoded
//! `HealthCheckResponse.status`. Also the server half of the same exchange (the testbed's health server,
//! `examples/testapp.rs`). Pure: the node supervisor's `probe_io` does the socket.
//!
//! HPACK: what we send is literal fields without indexing and raw (not Huffman) strings, which every
//! decoder accepts. What we read is walked field by field; only raw-string `grpc-status` /
//! `grpc-message` are understood (a Huffman-coded one leaves the code unknown, which is reported as such:
//! the verdict rests on the DATA message, never on the trailers).

/// The HTTP/2 client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// The path of the health check method.
pub const CHECK_PATH: &str = "/grpc.health.v1.Health/Check";

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

/// `HealthCheckResponse.ServingStatus` values.
pub const SERVING: u64 = 1;

/// The name of a `ServingStatus` as the kubelet quotes it.
pub fn status_name(s: u64) -> String {
    match s {
        0 => "UNKNOWN".into(),
        1 => "SERVING".into(),
        2 => "NOT_SERVING".into(),
        3 => "SERVICE_UNKNOWN".into(),
        n => n.to_string(),
    }
}

/// A gRPC status code's name as grpc-go prints it (`rpc error: code = NotFound desc = …`).
pub fn code_name(c: u32) -> String {
    const NAMES: [&str; 17] = [
        "OK",
        "Canceled",
        "Unknown",
        "InvalidArgument",
        "DeadlineExceeded",
        "NotFound",
        "AlreadyExists",
        "PermissionDenied",
        "ResourceExhausted",
        "FailedPrecondition",
        "Aborted",
        "OutOfRange",
        "Unimplemented",
        "Internal",
        "Unavailable",
        "DataLoss",
        "Unauthenticated",
    ];
    NAMES
        .get(c as usize)
        .map(|s| s.to_string())
        .unwrap_or_else(|| format!("Code({c})"))
}

fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let n = payload.len();
    out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8, kind, flags]);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
}

/// An HPACK integer with an `n`-bit prefix whose other bits are `first`.
fn hpack_int(out: &mut Vec<u8>, first: u8, n: u32, mut v: usize) {
    let max = (1usize << n) - 1;
    if v < max {
        out.push(first | v as u8);
        return;
    }
    out.push(first | max as u8);
    v -= max;
    while v >= 128 {
        out.push((v % 128) as u8 | 0x80);
        v /= 128;
    }
    out.push(v as u8);
}

fn hpack_str(out: &mut Vec<u8>, s: &str) {
    hpack_int(out, 0, 7, s.len());
    out.extend_from_slice(s.as_bytes());
}

/// A header block of literal fields without indexing, new names, raw strings.
fn header_block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in fields {
        out.push(0x00);
        hpack_str(&mut out, k);
        hpack_str(&mut out, v);
    }
    out
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-prefixed gRPC message (uncompressed).
fn grpc_message(proto: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8];
    out.extend_from_slice(&(proto.len() as u32).to_be_bytes());
    out.extend_from_slice(proto);
    out
}

/// Everything the client sends, at once: preface, empty SETTINGS, the call's HEADERS and its DATA
/// (`HealthCheckRequest{service}`, END_STREAM) on stream 1.
pub fn check_request(authority: &str, service: &str) -> Vec<u8> {
    let mut out = PREFACE.to_vec();
    frame(&mut out, SETTINGS, 0, 0, &[]);
    let block = header_block(&[
        (":method", "POST"),
        (":scheme", "http"),
        (":path", CHECK_PATH),
        (":authority", authority),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        ("user-agent", "kube-probe/1.33"),
    ]);
    frame(&mut out, HEADERS, END_HEADERS, 1, &block);
    let mut proto = Vec::new();
    if !service.is_empty() {
        proto.push(0x0a); // field 1, length-delimited
        varint(&mut proto, service.len() as u64);
        proto.extend_from_slice(service.as_bytes());
    }
    frame(&mut out, DATA, END_STREAM, 1, &grpc_message(&proto));
    out
}

/// A SETTINGS acknowledgement.
pub fn settings_ack() -> Vec<u8> {
    let mut out = Vec::new();
    frame(&mut out, SETTINGS, ACK, 0, &[]);
    out
}

/// The answer to a server's PING.
pub fn ping_ack(payload: &[u8; 8]) -> Vec<u8> {
    let mut out = Vec::new();
    frame(&mut out, PING, ACK, 0, payload);
    out
}

/// How the call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A `HealthCheckResponse` arrived: its status.
    Health(u64),
    /// The call ended without one: the gRPC status (None: not readable) and message.
    Rpc { code: Option<u32>, message: String },
    /// The server reset the stream or closed the connection (HTTP/2 error code).
    Reset(u32),
}

/// What the bytes read so far hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parsed {
    /// SETTINGS frames from the server that want an ACK.
    pub settings: usize,
    /// PING payloads that want an answer.
    pub pings: Vec<[u8; 8]>,
    /// The call's end, once it came.
    pub answer: Option<Answer>,
}

/// One frame: (type, flags, stream, payload), and the bytes it took; None while incomplete.
fn next_frame(buf: &[u8]) -> Option<(u8, u8, u32, &[u8], usize)> {
    if buf.len() < 9 {
        return None;
    }
    let n = (usize::from(buf[0]) << 16) | (usize::from(buf[1]) << 8) | usize::from(buf[2]);
    if buf.len() < 9 + n {
        return None;
    }
    let stream = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) & 0x7fff_ffff;
    Some((buf[3], buf[4], stream, &buf[9..9 + n], 9 + n))
}

/// The payload of a DATA or HEADERS frame without its padding and priority fields.
fn unpadded(kind: u8, flags: u8, p: &[u8]) -> &[u8] {
    let mut p = p;
    let mut pad = 0;
    if flags & PADDED != 0 && !p.is_empty() {
        pad = usize::from(p[0]);
        p = &p[1..];
    }
    if kind == HEADERS && flags & PRIORITY != 0 {
        p = p.get(5..).unwrap_or_default();
    }
    &p[..p.len().saturating_sub(pad)]
}

fn read_int(b: &[u8], i: &mut usize, n: u32) -> Option<usize> {
    let max = (1usize << n) - 1;
    let mut v = usize::from(*b.get(*i)?) & max;
    *i += 1;
    if v < max {
        return Some(v);
    }
    let mut shift = 0;
    loop {
        let c = *b.get(*i)?;
        *i += 1;
        v = v.checked_add(usize::from(c & 0x7f).checked_shl(shift)?)?;
        shift += 7;
        if c & 0x80 == 0 || shift > 28 {
            return Some(v);
        }
    }
}

/// A string literal: its bytes, or None when Huffman-coded (not decoded here).
fn read_str<'a>(b: &'a [u8], i: &mut usize) -> Option<Option<&'a [u8]>> {
    let huffman = b.get(*i)? & 0x80 != 0;
    let n = read_int(b, i, 7)?;
    let s = b.get(*i..*i + n)?;
    *i += n;
    Some((!huffman).then_some(s))
}

/// The raw-string `grpc-status` and `grpc-message` of a header block.
fn trailers(block: &[u8]) -> (Option<u32>, String) {
    let mut code = None;
    let mut message = String::new();
    let mut i = 0;
    while i < block.len() {
        let b = block[i];
        if b & 0x80 != 0 {
            // indexed field: a name and value from the tables (grpc-status is in neither static entry)
            if read_int(block, &mut i, 7).is_none() {
                break;
            }
            continue;
        }
        if b & 0xe0 == 0x20 {
            if read_int(block, &mut i, 5).is_none() {
                break;
            }
            continue;
        }
        let prefix = if b & 0x40 != 0 { 6 } else { 4 };
        let Some(index) = read_int(block, &mut i, prefix) else {
            break;
        };
        let name = if index == 0 {
            match read_str(block, &mut i) {
                Some(n) => n,
                None => break,
            }
        } else {
            None
        };
        let Some(value) = read_str(block, &mut i) else {
            break;
        };
        match (name, value) {
            (Some(b"grpc-status"), Some(v)) => {
                code = std::str::from_utf8(v).ok().and_then(|s| s.parse().ok());
            }
            (Some(b"grpc-message"), Some(v)) => {
                message = String::from_utf8_lossy(v).into_owned();
            }
            _ => {}
        }
    }
    (code, message)
}

/// The `status` (field 1) of a `HealthCheckResponse`.
fn health_status(proto: &[u8]) -> Option<u64> {
    let mut i = 0;
    let mut status = 0; // proto3: an absent field is its zero value (UNKNOWN)
    while i < proto.len() {
        let key = read_varint(proto, &mut i)?;
        match key & 7 {
            0 => {
                let v = read_varint(proto, &mut i)?;
                if key >> 3 == 1 {
                    status = v;
                }
            }
            2 => {
                let n = read_varint(proto, &mut i)? as usize;
                i = i.checked_add(n).filter(|e| *e <= proto.len())?;
            }
            5 => i += 4,
            1 => i += 8,
            _ => return None,
        }
    }
    Some(status)
}

fn read_varint(b: &[u8], i: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let c = *b.get(*i)?;
        *i += 1;
        v |= u64::from(c & 0x7f) << shift;
        if c & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// What the server's bytes so far say (the whole buffer each time: an answer is a few hundred bytes).
/// A decoded response wins over a reset or GOAWAY that follows it (a server may close right after).
pub fn parse(buf: &[u8]) -> Parsed {
    let mut out = Parsed::default();
    let mut data = Vec::new();
    let mut block = Vec::new();
    let mut reset = None;
    let mut ended = false;
    let mut rest = buf;
    while let Some((kind, flags, stream, payload, used)) = next_frame(rest) {
        rest = &rest[used..];
        let code = |at: usize| {
            payload
                .get(at..at + 4)
                .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                .unwrap_or(0)
        };
        match kind {
            SETTINGS if flags & ACK == 0 => out.settings += 1,
            PING if flags & ACK == 0 => {
                if let Ok(p) = <[u8; 8]>::try_from(payload) {
                    out.pings.push(p);
                }
            }
            GOAWAY => {
                reset.get_or_insert(code(4));
            }
            RST_STREAM if stream == 1 => {
                reset.get_or_insert(code(0));
            }
            DATA if stream == 1 => data.extend_from_slice(unpadded(kind, flags, payload)),
            HEADERS | CONTINUATION if stream == 1 => {
                block.extend_from_slice(unpadded(kind, flags, payload));
            }
            _ => {}
        }
        if stream == 1 && matches!(kind, DATA | HEADERS) && flags & END_STREAM != 0 {
            ended = true;
        }
    }
    // A complete message: 1 flag byte (0: not compressed), 4 length bytes, the protobuf.
    if data.len() >= 5 && data[0] == 0 {
        let n = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
        if let Some(s) = data.get(5..5 + n).and_then(health_status) {
            out.answer = Some(Answer::Health(s));
            return out;
        }
    }
    if let Some(code) = reset {
        out.answer = Some(Answer::Reset(code));
    } else if ended {
        let (code, message) = trailers(&block);
        out.answer = Some(Answer::Rpc { code, message });
    }
    out
}

/// The server half (the testbed's health server): what to send for the bytes a client sent so far.
pub mod server {
    use super::*;

    /// The services a health server knows and their status (`""` is the server as a whole).
    pub type Services = dyn Fn(&str) -> Option<u64>;

    /// The server's first bytes: its SETTINGS.
    pub fn hello() -> Vec<u8> {
        let mut out = Vec::new();
        frame(&mut out, SETTINGS, 0, 0, &[]);
        out
    }

    /// For the complete frames at the start of `buf` (after the preface): the bytes to answer and how
    /// many bytes were used. A call is answered when its DATA ends the stream: the status as a
    /// `HealthCheckResponse`, or trailers-only `grpc-status: 5` (NOT_FOUND) for an unknown service.
    pub fn answer(buf: &[u8], services: &Services) -> (Vec<u8>, usize) {
        let mut out = Vec::new();
        let mut used = 0;
        while let Some((kind, flags, stream, payload, n)) = next_frame(&buf[used..]) {
            used += n;
            match kind {
                SETTINGS if flags & ACK == 0 => frame(&mut out, SETTINGS, ACK, 0, &[]),
                PING if flags & ACK == 0 => frame(&mut out, PING, ACK, 0, payload),
                DATA if flags & END_STREAM != 0 && stream != 0 => {
                    let p = unpadded(kind, flags, payload);
                    let service = p.get(5..).and_then(request_service).unwrap_or_default();
                    match services(&service) {
                        Some(status) => {
                            let mut h = vec![0x88]; // :status 200, static index 8
                            h.extend(header_block(&[("content-type", "application/grpc")]));
                            frame(&mut out, HEADERS, END_HEADERS, stream, &h);
                            let mut proto = vec![0x08];
                            varint(&mut proto, status);
                            frame(&mut out, DATA, 0, stream, &grpc_message(&proto));
                            let t = header_block(&[("grpc-status", "0")]);
                            frame(&mut out, HEADERS, END_HEADERS | END_STREAM, stream, &t);
                        }
                        None => {
                            let mut h = vec![0x88];
                            h.extend(header_block(&[
                                ("content-type", "application/grpc"),
                                ("grpc-status", "5"),
                                ("grpc-message", "unknown service"),
                            ]));
                            frame(&mut out, HEADERS, END_HEADERS | END_STREAM, stream, &h);
                        }
                    }
                }
                _ => {}
            }
        }
        (out, used)
    }

    /// The `service` (field 1) of a `HealthCheckRequest`.
    fn request_service(proto: &[u8]) -> Option<String> {
        let mut i = 0;
        let mut service = String::new();
        while i < proto.len() {
            let key = read_varint(proto, &mut i)?;
            match key & 7 {
                0 => {
                    read_varint(proto, &mut i)?;
                }
                2 => {
                    let n = read_varint(proto, &mut i)? as usize;
                    let s = proto.get(i..i.checked_add(n)?)?;
                    i += n;
                    if key >> 3 == 1 {
                        service = String::from_utf8_lossy(s).into_owned();
                    }
                }
                _ => return None,
            }
        }
        Some(service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn services(s: &str) -> Option<u64> {
        match s {
            "" => Some(SERVING),
            "db" => Some(2),
            _ => None,
        }
    }

    /// The client's bytes through the server half, and the server's answer through the client's parser.
    fn call(service: &str) -> Parsed {
        let req = check_request("10.0.0.5:9000", service);
        assert!(req.starts_with(PREFACE));
        let (answer, used) = server::answer(&req[PREFACE.len()..], &services);
        assert_eq!(used, req.len() - PREFACE.len(), "every frame complete");
        let mut back = server::hello();
        back.extend(answer);
        parse(&back)
    }

    #[test]
    fn a_serving_server_a_not_serving_service_and_an_unknown_one() {
        let p = call("");
        assert_eq!(p.answer, Some(Answer::Health(SERVING)));
        assert_eq!(p.settings, 1, "the server's SETTINGS wants an ACK");
        assert_eq!(call("db").answer, Some(Answer::Health(2)));
        assert_eq!(
            call("nope").answer,
            Some(Answer::Rpc {
                code: Some(5),
                message: "unknown service".into()
            })
        );
        assert_eq!(status_name(2), "NOT_SERVING");
        assert_eq!(code_name(5), "NotFound");
    }

    #[test]
    fn the_request_is_what_grpc_expects() {
        let req = check_request("h:1", "db");
        let frames = &req[PREFACE.len()..];
        let (k, _, s, p, n) = next_frame(frames).unwrap();
        assert_eq!((k, s, p.len()), (SETTINGS, 0, 0));
        let (k, f, s, block, m) = next_frame(&frames[n..]).unwrap();
        assert_eq!((k, f, s), (HEADERS, END_HEADERS, 1));
        let text = String::from_utf8_lossy(block);
        for want in [":path", CHECK_PATH, "application/grpc", "trailers", "h:1"] {
            assert!(text.contains(want), "{want} in {text:?}");
        }
        let (k, f, _, data, _) = next_frame(&frames[n + m..]).unwrap();
        assert_eq!((k, f), (DATA, END_STREAM));
        assert_eq!(data, &[0, 0, 0, 0, 4, 0x0a, 2, b'd', b'b']);
        // An empty service is an empty message (proto3 leaves a default field out).
        let empty = check_request("h:1", "");
        assert!(empty.ends_with(&[0, 0, 0, 0, 0]));
    }

    #[test]
    fn partial_answers_resets_and_huffman_trailers() {
        let req = check_request("h:1", "");
        let (answer, _) = server::answer(&req[PREFACE.len()..], &services);
        // Cut anywhere before the end: no verdict yet.
        for cut in 0..answer.len() - 1 {
            let p = parse(&answer[..cut]);
            assert!(
                p.answer.is_none() || p.answer == Some(Answer::Health(SERVING)),
                "cut {cut}"
            );
        }
        let mut rst = Vec::new();
        frame(&mut rst, RST_STREAM, 0, 1, &7u32.to_be_bytes());
        assert_eq!(parse(&rst).answer, Some(Answer::Reset(7)));
        // Trailers-only with a Huffman-coded name: the call ended, the code is not readable.
        let mut t = Vec::new();
        frame(
            &mut t,
            HEADERS,
            END_HEADERS | END_STREAM,
            1,
            &[0x88, 0x40, 0x82, 0xaa, 0xbb, 0x01, b'5'],
        );
        assert_eq!(
            parse(&t).answer,
            Some(Answer::Rpc {
                code: None,
                message: String::new()
            })
        );
        // Long strings take the multi-byte HPACK integer.
        let mut out = Vec::new();
        hpack_int(&mut out, 0, 7, 300);
        let mut i = 0;
        assert_eq!(read_int(&out, &mut i, 7), Some(300));
        assert_eq!(i, out.len());
    }
}
