//! One client connection: non-blocking connect, HTTP upgrade (over TLS for `wss://`), then
//! masked frames out and verified echoes in, keeping a fixed number of messages in flight.
//!
//! Every message carries its sequence number in its first (up to) 16 bytes, as hex digits so
//! text stays UTF-8; the rest is a fixed pattern. An echo must match the message sent with
//! that number byte for byte, and echoes must come back in order.
//!
//! With `deflate` the upgrade offers permessage-deflate as browsers do (`client_max_window_bits`),
//! and fails unless the server accepts it; every message is sent compressed (by one
//! compressor for all connections, started afresh for each message, which RFC 7692 allows
//! without saying so), and compressed echoes are inflated (with context kept between
//! messages unless the server answered `server_no_context_takeover`) before the check.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::time::Instant;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use mio::net::TcpStream;

use crate::transport::Transport;

/// The RFC 6455 §1.3 sample key and the accept value a correct server derives from it.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &[u8] = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
/// Largest upgrade response accepted.
const MAX_HEAD: usize = 8 * 1024;
const STAMP: usize = 16;

/// What every connection sends: the same for all of them.
pub struct Workload {
    pub template: Vec<u8>,
    pub binary: bool,
    pub inflight: usize,
    /// Messages each connection sends in all; `u64::MAX` for "until told to stop".
    pub per_conn: u64,
    pub request: Vec<u8>,
    /// permessage-deflate: the compressor every connection's messages go through.
    pub deflate: Option<RefCell<Compress>>,
}

impl Workload {
    pub fn new(
        size: usize,
        binary: bool,
        inflight: usize,
        per_conn: u64,
        host: &str,
        path: &str,
        deflate: bool,
    ) -> Self {
        let template = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
        let offer = match deflate {
            true => "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
            false => "",
        };
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n"
        )
        .into_bytes();
        let deflate = deflate.then(|| RefCell::new(Compress::new(Compression::default(), false)));
        Workload {
            template,
            binary,
            inflight,
            per_conn,
            request,
            deflate,
        }
    }

    fn stamp_len(&self) -> usize {
        self.template.len().min(STAMP)
    }
}

/// What the event loop tallies across connections.
pub struct Tally {
    /// Whether to queue new messages after an echo (false once the window closed).
    pub sending: bool,
    /// Whether echoes count towards the measured window.
    pub measuring: bool,
    pub echoes: u64,
    pub window_echoes: u64,
    /// WebSocket bytes the server sent in the window (frames, after TLS): its side of
    /// the wire, which permessage-deflate shrinks.
    pub window_bytes: u64,
    pub latencies: crate::stats::Latencies,
}

#[derive(Debug)]
pub enum Failure {
    Connect(io::Error),
    Upgrade(String),
    Io(io::Error),
    Closed,
    Protocol(&'static str),
    Mismatch { seq: u64 },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Connect(e) => write!(f, "connect: {e}"),
            Failure::Upgrade(s) => write!(f, "upgrade refused: {s}"),
            Failure::Io(e) => write!(f, "i/o: {e}"),
            Failure::Closed => write!(f, "closed by the server"),
            Failure::Protocol(s) => write!(f, "protocol: {s}"),
            Failure::Mismatch { seq } => {
                write!(f, "echo of message {seq} differs from what was sent")
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    Connecting,
    Upgrading,
    Open,
}

pub struct Client {
    sock: TcpStream,
    transport: Transport,
    state: State,
    /// Bytes of an incomplete upgrade response or frame, kept across reads.
    partial: Vec<u8>,
    /// A fragmented message being reassembled.
    fragments: Vec<u8>,
    out: Vec<u8>,
    out_head: usize,
    sent: u64,
    received: u64,
    sent_at: VecDeque<Instant>,
    rng: u64,
    /// permessage-deflate: the echoes' inflater, made at the first compressed one.
    inflater: Option<Box<Decompress>>,
    /// The server answered `server_no_context_takeover`: each echo inflates on its own.
    server_resets: bool,
    /// The fragmented message being reassembled is compressed.
    compressed: bool,
}

impl Client {
    pub fn new(sock: TcpStream, transport: Transport, seed: u64) -> Self {
        Client {
            sock,
            transport,
            state: State::Connecting,
            partial: Vec::new(),
            fragments: Vec::new(),
            out: Vec::new(),
            out_head: 0,
            sent: 0,
            received: 0,
            sent_at: VecDeque::new(),
            rng: seed | 1,
            inflater: None,
            server_resets: false,
            compressed: false,
        }
    }

    pub fn sock(&mut self) -> &mut TcpStream {
        &mut self.sock
    }

    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Whether it got back every message it was to send.
    pub fn done(&self, w: &Workload) -> bool {
        self.received >= w.per_conn
    }

    /// Acts on a readiness event: reads everything available, queues what follows, and
    /// writes once.
    pub fn on_event(
        &mut self,
        w: &Workload,
        scratch: &mut [u8],
        now: Instant,
        tally: &mut Tally,
    ) -> Result<(), Failure> {
        if self.state == State::Connecting {
            if let Some(e) = self.sock.take_error().map_err(Failure::Connect)? {
                return Err(Failure::Connect(e));
            }
            match self.sock.peer_addr() {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(()),
                Err(e) => return Err(Failure::Connect(e)),
            }
            let _ = self.sock.set_nodelay(true);
            self.state = State::Upgrading;
            self.out.extend_from_slice(&w.request);
        }
        self.read_all(w, scratch, now, tally)?;
        self.flush()
    }

    fn read_all(
        &mut self,
        w: &Workload,
        scratch: &mut [u8],
        now: Instant,
        tally: &mut Tally,
    ) -> Result<(), Failure> {
        loop {
            let n = match self.transport.read(&mut self.sock, scratch) {
                Ok(0) => return Err(Failure::Closed),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Failure::Io(e)),
            };
            if tally.measuring {
                tally.window_bytes += n as u64;
            }
            if self.partial.is_empty() {
                let used = self.consume(w, &scratch[..n], now, tally)?;
                self.partial.extend_from_slice(&scratch[used..n]);
            } else {
                self.partial.extend_from_slice(&scratch[..n]);
                let buf = std::mem::take(&mut self.partial);
                let used = self.consume(w, &buf, now, tally);
                self.partial = buf;
                self.partial.drain(..used?);
            }
            if n < scratch.len() {
                // A short read drained the socket; the next edge brings more.
                return Ok(());
            }
        }
    }

    /// Handles what `buf` holds; returns how many bytes were used (the rest is incomplete).
    fn consume(
        &mut self,
        w: &Workload,
        buf: &[u8],
        now: Instant,
        tally: &mut Tally,
    ) -> Result<usize, Failure> {
        let mut used = 0;
        if self.state == State::Upgrading {
            let Some(end) = buf.windows(4).position(|x| x == b"\r\n\r\n") else {
                if buf.len() > MAX_HEAD {
                    return Err(Failure::Upgrade("response head too large".into()));
                }
                return Ok(0);
            };
            let head = &buf[..end];
            let status_ok = head.starts_with(b"HTTP/1.1 101");
            if !status_ok || !head.windows(ACCEPT.len()).any(|x| x == ACCEPT) {
                let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
                return Err(Failure::Upgrade(String::from_utf8_lossy(line).into_owned()));
            }
            used = end + 4;
            if w.deflate.is_some() {
                let head = String::from_utf8_lossy(head);
                let answer = (head.lines()).find(|l| {
                    l.to_ascii_lowercase()
                        .starts_with("sec-websocket-extensions:")
                });
                let Some(answer) = answer.filter(|a| a.contains("permessage-deflate")) else {
                    return Err(Failure::Upgrade("permessage-deflate not accepted".into()));
                };
                self.server_resets = answer.contains("server_no_context_takeover");
            }
            self.state = State::Open;
            for _ in 0..w.inflight {
                self.queue_next(w, now);
            }
        }
        while let Some((frame, len)) = parse(&buf[used..])? {
            let payload = &buf[used + frame.header..used + len];
            used += len;
            match frame.opcode {
                0x0..=0x2 => {
                    if frame.rsv1 && (frame.opcode == 0 || w.deflate.is_none()) {
                        return Err(Failure::Protocol("RSV1 where it has no meaning"));
                    }
                    if frame.opcode != 0 {
                        self.compressed = frame.rsv1;
                        if !self.fragments.is_empty() {
                            return Err(Failure::Protocol("new message inside a fragmented one"));
                        }
                        let want = if w.binary { 0x2 } else { 0x1 };
                        if frame.opcode != want {
                            return Err(Failure::Protocol("echo has the wrong opcode"));
                        }
                    }
                    if frame.fin && self.fragments.is_empty() && !self.compressed {
                        self.on_echo(w, payload, now, tally)?;
                    } else {
                        self.fragments.extend_from_slice(payload);
                        if frame.fin {
                            let mut msg = std::mem::take(&mut self.fragments);
                            if self.compressed {
                                msg = self.inflate(&msg)?;
                            }
                            self.on_echo(w, &msg, now, tally)?;
                        }
                    }
                }
                0x8 => return Err(Failure::Closed),
                0x9 => {
                    let payload = payload.to_vec();
                    self.queue_frame(0x80 | 0xA, &payload, None);
                }
                0xA => {}
                _ => return Err(Failure::Protocol("unknown opcode")),
            }
        }
        Ok(used)
    }

    fn on_echo(
        &mut self,
        w: &Workload,
        payload: &[u8],
        now: Instant,
        tally: &mut Tally,
    ) -> Result<(), Failure> {
        let seq = self.received;
        let h = w.stamp_len();
        let ok = payload.len() == w.template.len()
            && payload[..h] == stamp(seq)[STAMP - h..]
            && payload[h..] == w.template[h..];
        if !ok {
            return Err(Failure::Mismatch { seq });
        }
        let sent_at = self
            .sent_at
            .pop_front()
            .ok_or(Failure::Protocol("an echo of a message never sent"))?;
        self.received += 1;
        tally.echoes += 1;
        if tally.measuring {
            tally.window_echoes += 1;
            tally
                .latencies
                .record(now.saturating_duration_since(sent_at));
        }
        if tally.sending {
            self.queue_next(w, now);
        }
        Ok(())
    }

    /// Queues the next message, unless this connection has sent its share.
    fn queue_next(&mut self, w: &Workload, now: Instant) {
        if self.sent >= w.per_conn {
            return;
        }
        let seq = self.sent;
        self.sent += 1;
        self.sent_at.push_back(now);
        let opcode = if w.binary { 0x2 } else { 0x1 };
        let Some(compressor) = &w.deflate else {
            self.queue_frame(0x80 | opcode, &w.template, Some(seq));
            return;
        };
        let mut msg = w.template.clone();
        let h = msg.len().min(STAMP);
        msg[..h].copy_from_slice(&stamp(seq)[STAMP - h..]);
        let compressed = deflate(&mut compressor.borrow_mut(), &msg);
        // FIN, RSV1 ("Per-Message Compressed"), the opcode.
        self.queue_frame(0xC0 | opcode, &compressed, None);
    }

    /// `payload`, a compressed echo, inflated (RFC 7692 §7.2.2).
    fn inflate(&mut self, payload: &[u8]) -> Result<Vec<u8>, Failure> {
        let d = (self.inflater).get_or_insert_with(|| Box::new(Decompress::new(false)));
        let mut input = payload.to_vec();
        input.extend_from_slice(&[0, 0, 0xff, 0xff]);
        let mut out = Vec::with_capacity(payload.len() * 4 + 64);
        let mut at = 0;
        loop {
            let before = d.total_in();
            (d.decompress_vec(&input[at..], &mut out, FlushDecompress::Sync))
                .map_err(|_| Failure::Protocol("invalid compressed echo"))?;
            at += (d.total_in() - before) as usize;
            if at == input.len() && out.len() < out.capacity() {
                break;
            }
            out.reserve(out.capacity());
        }
        if self.server_resets {
            self.inflater = None;
        }
        Ok(out)
    }

    /// Appends a masked, final frame (RFC 6455 §5.3: every client frame is masked) whose
    /// first byte is `first` (FIN, RSV1, the opcode).
    fn queue_frame(&mut self, first: u8, payload: &[u8], seq: Option<u64>) {
        let len = payload.len();
        self.out.push(first);
        if len < 126 {
            self.out.push(0x80 | len as u8);
        } else if len <= 0xFFFF {
            self.out.push(0x80 | 126);
            self.out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            self.out.push(0x80 | 127);
            self.out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        // xorshift64: a fresh mask per frame, as a browser would send.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let mask = (self.rng as u32).to_ne_bytes();
        self.out.extend_from_slice(&mask);
        let start = self.out.len();
        self.out.extend_from_slice(payload);
        if let Some(seq) = seq {
            let h = len.min(STAMP);
            self.out[start..start + h].copy_from_slice(&stamp(seq)[STAMP - h..]);
        }
        apply_mask(&mut self.out[start..], mask);
    }

    /// Writes what is queued, once; the rest waits for the next writable edge.
    fn flush(&mut self) -> Result<(), Failure> {
        self.out_head += (self.transport)
            .write(&mut self.sock, &self.out[self.out_head..])
            .map_err(|e| match e.kind() {
                io::ErrorKind::WriteZero => Failure::Closed,
                _ => Failure::Io(e),
            })?;
        if self.out_head == self.out.len() {
            self.out.clear();
            self.out_head = 0;
        } else if self.out_head > self.out.len() / 2 {
            self.out.drain(..self.out_head);
            self.out_head = 0;
        }
        Ok(())
    }
}

/// `msg` compressed as one message (RFC 7692 §7.2.1), the stream then started afresh.
fn deflate(c: &mut Compress, msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() + 64);
    let mut at = 0;
    loop {
        let before = c.total_in();
        // Compressing into a vector fails only on invalid parameters, which these are not.
        let _ = c.compress_vec(&msg[at..], &mut out, FlushCompress::Sync);
        at += (c.total_in() - before) as usize;
        if at == msg.len() && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity());
    }
    out.truncate(out.len().saturating_sub(4)); // the sync flush's 00 00 ff ff
    c.reset();
    out
}

/// A message's sequence number as 16 lowercase hex digits.
fn stamp(seq: u64) -> [u8; STAMP] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; STAMP];
    for (i, b) in out.iter_mut().enumerate() {
        *b = HEX[((seq >> (4 * (STAMP - 1 - i))) & 0xF) as usize];
    }
    out
}

fn apply_mask(buf: &mut [u8], mask: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
}

struct Frame {
    fin: bool,
    rsv1: bool,
    opcode: u8,
    header: usize,
}

/// Parses a server frame at the start of `buf`: `None` until it is complete, else the frame
/// and its total length.
fn parse(buf: &[u8]) -> Result<Option<(Frame, usize)>, Failure> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    if b1 & 0x80 != 0 {
        return Err(Failure::Protocol("masked server frame"));
    }
    let (header, len) = match b1 & 0x7F {
        126 => match buf.get(2..4) {
            Some(b) => (4, u16::from_be_bytes([b[0], b[1]]) as u64),
            None => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(b) => (10, u64::from_be_bytes(b.try_into().unwrap_or_default())),
            None => return Ok(None),
        },
        n => (2, n as u64),
    };
    let total = header as u64 + len;
    if (buf.len() as u64) < total {
        return Ok(None);
    }
    let frame = Frame {
        fin: b0 & 0x80 != 0,
        rsv1: b0 & 0x40 != 0,
        opcode: b0 & 0x0F,
        header,
    };
    Ok(Some((frame, total as usize)))
}
