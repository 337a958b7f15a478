//! The connection state machine driven by an arbitrary script of events, as the reactor
//! would drive it: bytes from the peer, time passing, the application's sends and closes,
//! partial writes, the peer's EOF or reset. After every step it checks the invariants the
//! rest of the library relies on:
//!
//! - the outbound queue stays within `max_backpressure` (or one frame past it, as
//!   `Connection::send` documents), plus the control frames tungstenite answers with;
//! - `on_close` is owed exactly once for a WebSocket that opened, never otherwise;
//! - every deadline is in the future (a past one would spin the reactor's timer);
//! - what is written is a valid frame stream (read by `FrameStream`, not tungstenite),
//!   with nothing after our Close, and nothing at all after our half is shut down.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use tungstenite::protocol::frame::CloseFrame;

use super::wire::FrameStream;
use super::{read_bytes, write_bytes};
use crate::config::{BackpressurePolicy, Config};
use crate::conn::frame::OpCode;
use crate::conn::io::ReadBuf;
use crate::conn::peer::Peer;
use crate::conn::{Connection, Event, Input, Pass, Sent};
use crate::error::{Cause, Disconnect};
use crate::handler::Accept;
use crate::http::Response;
use crate::{Bytes, CloseCode, Message};

/// A valid upgrade request, so scripts reach the open state without having to find one.
pub(crate) const UPGRADE: &[u8] = b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

/// What one step of a script does. A script is its [`Limits`], then steps, each a tag
/// byte and its fields (integers little-endian; byte strings after a `u16` length), so a
/// seed is easy to write by hand ([`Script`]) and a mutated one still reads as a script.
#[derive(Debug)]
enum Step {
    /// The peer sends these bytes.
    Bytes(Vec<u8>),
    /// The peer sends a valid upgrade request.
    Upgrade,
    /// The peer sends one frame: `head` is its first byte (FIN, RSV, opcode), masked with
    /// `mask` unless it is `None`.
    Frame {
        head: u8,
        mask: Option<[u8; 4]>,
        payload: Vec<u8>,
    },
    /// Time passes, in units of 16 ms (up to about 17 minutes).
    Advance(u16),
    /// The application sends a message (text is made valid UTF-8).
    Send { binary: bool, payload: Vec<u8> },
    /// The application sends one large message of `kib` KiB.
    SendLarge { binary: bool, kib: u8 },
    /// The application starts the close handshake.
    Close { code: u16, reason: Vec<u8> },
    /// The handler answers a held HTTP request.
    Respond { status: u16, body: Vec<u8> },
    /// The socket takes at most this many bytes of the queue (0: `WouldBlock`).
    Flush(u16),
    /// The socket takes everything queued.
    FlushAll,
    /// The peer ends its stream.
    Eof,
    /// The socket fails (reset by the peer).
    Reset,
    /// The server shuts down: an open WebSocket is closed with 1001, anything else ends
    /// after what it has queued.
    Shutdown,
}

/// Step tags, in [`Step`]'s order.
const TAGS: u8 = 13;

impl Step {
    fn read(u: &mut Unstructured<'_>) -> arbitrary::Result<Step> {
        let bytes = |u: &mut Unstructured<'_>| Ok(read_bytes(u)?.to_vec());
        Ok(match u.arbitrary::<u8>()? % TAGS {
            0 => Step::Bytes(bytes(u)?),
            1 => Step::Upgrade,
            2 => Step::Frame {
                head: u.arbitrary()?,
                mask: u.arbitrary()?,
                payload: bytes(u)?,
            },
            3 => Step::Advance(u.arbitrary()?),
            4 => Step::Send {
                binary: u.arbitrary()?,
                payload: bytes(u)?,
            },
            5 => Step::SendLarge {
                binary: u.arbitrary()?,
                kib: u.arbitrary()?,
            },
            6 => Step::Close {
                code: u.arbitrary()?,
                reason: bytes(u)?,
            },
            7 => Step::Respond {
                status: u.arbitrary()?,
                body: bytes(u)?,
            },
            8 => Step::Flush(u.arbitrary()?),
            9 => Step::FlushAll,
            10 => Step::Eof,
            11 => Step::Reset,
            _ => Step::Shutdown,
        })
    }
}

/// Writes scripts in the format [`run`] reads: the seeds of the corpus.
#[derive(Debug, Default)]
pub struct Script(Vec<u8>);

impl Script {
    /// A script whose handler echoes (`echo`) or refuses upgrades (`refuse`); the other
    /// limits are fixed (about 4 KiB frames, 16 KiB messages, 8 KiB soft and 72 KiB hard
    /// backpressure, the close policy, the idle timeout on, 64 messages per pass).
    /// `FUZZ_TRACE=1` prints each step of a script as it runs.
    pub fn new(echo: bool, refuse: bool) -> Script {
        let mut limits = Vec::new();
        for v in [4096u16, 4096, 8192, 16384] {
            limits.extend_from_slice(&v.to_le_bytes());
        }
        limits.extend_from_slice(&[0, 1, 63, u8::from(echo), u8::from(refuse)]);
        Script(limits)
    }
    fn tag(mut self, tag: u8) -> Self {
        self.0.push(tag);
        self
    }
    fn with(mut self, bytes: &[u8]) -> Self {
        write_bytes(&mut self.0, bytes);
        self
    }
    /// The peer sends raw bytes.
    pub fn bytes(self, bytes: &[u8]) -> Self {
        self.tag(0).with(bytes)
    }
    /// The peer sends the valid upgrade request.
    pub fn upgrade(self) -> Self {
        self.tag(1)
    }
    /// The peer sends a frame with this first byte, masked.
    pub fn frame(mut self, head: u8, payload: &[u8]) -> Self {
        self.0
            .extend_from_slice(&[2, head, 1, 0x37, 0xfa, 0x21, 0x3d]);
        self.with(payload)
    }
    /// Time passes (units of 16 ms).
    pub fn advance(mut self, by: u16) -> Self {
        self.0.push(3);
        self.0.extend_from_slice(&by.to_le_bytes());
        self
    }
    /// The application sends a text message.
    pub fn send(self, text: &str) -> Self {
        self.tag(4).tag(0).with(text.as_bytes())
    }
    /// The application closes with this code.
    pub fn close(mut self, code: u16) -> Self {
        self.0.push(6);
        self.0.extend_from_slice(&code.to_le_bytes());
        self.with(b"bye")
    }
    /// The handler answers a held request.
    pub fn respond(mut self, status: u16) -> Self {
        self.0.push(7);
        self.0.extend_from_slice(&status.to_le_bytes());
        self.with(b"ok")
    }
    /// The socket takes everything queued.
    pub fn flush_all(self) -> Self {
        self.tag(9)
    }
    /// The peer ends its stream.
    pub fn eof(self) -> Self {
        self.tag(10)
    }
    /// The script's bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

/// The connection's limits, small enough that a short script reaches each of them.
#[derive(Debug, Arbitrary)]
struct Limits {
    max_frame: u16,
    max_message: u16,
    soft: u16,
    hard: u16,
    drop_policy: bool,
    idle: bool,
    per_pass: u8,
    /// Echo every message, as the default handler does.
    echo: bool,
    /// Answer `on_upgrade` with a refusal instead.
    refuse: bool,
}

impl Limits {
    fn config(&self) -> Config {
        let soft = usize::from(self.soft);
        Config::default()
            .max_frame_size(64 + usize::from(self.max_frame))
            .max_message_size(64 + usize::from(self.max_message) * 4)
            .max_handshake_bytes(1024)
            .max_http_body(512)
            .backpressure_soft_limit(soft)
            .max_backpressure(soft + usize::from(self.hard) * 4)
            .backpressure_policy(if self.drop_policy {
                BackpressurePolicy::Drop
            } else {
                BackpressurePolicy::Close
            })
            .idle_timeout(self.idle.then_some(Duration::from_secs(120)))
            .messages_per_pass(1 + usize::from(self.per_pass % 64))
    }
}

/// Runs one script; panics when an invariant breaks.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(limits) = Limits::arbitrary(&mut u) else {
        return;
    };
    let mut driver = Driver::new(&limits);
    // `Unstructured` pads with zeros once the input is spent: stop there instead.
    while !u.is_empty() {
        let Ok(step) = Step::read(&mut u) else {
            break;
        };
        if std::env::var_os("FUZZ_TRACE").is_some() {
            eprintln!("{step:?} pending {}", driver.conn.out.pending());
        }
        driver.step(step);
        driver.check();
        if driver.conn.is_done() {
            break;
        }
    }
    driver.end();
}

/// A socket that takes at most `room` bytes, then would block.
struct Socket<'a> {
    room: usize,
    wire: &'a mut Vec<u8>,
}

impl Write for Socket<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.room == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.room);
        self.room -= n;
        self.wire.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub(crate) struct Driver {
    conn: Connection,
    config: Config,
    now: Instant,
    rbuf: ReadBuf,
    peer: Peer,
    echo: bool,
    refuse: bool,
    /// The WebSocket opened (`on_open` ran).
    opened: bool,
    /// `on_close` reports owed so far.
    closes: usize,
    /// Written bytes not yet checked, and the offset in the stream of the first of them.
    wire: Vec<u8>,
    base: usize,
    /// Where in the stream the frames begin: the end of the 101, once it is queued.
    frames_from: Option<usize>,
    frames: FrameStream,
    /// Our half is shut down: nothing more may be written.
    shut: bool,
    /// The largest frame or response the application queued (the backpressure bound allows
    /// one).
    largest_item: usize,
    /// The messages the handler got, and the `on_close` report, if any.
    pub(crate) messages: Vec<Message>,
    pub(crate) closed: Option<Disconnect>,
}

impl Driver {
    fn new(limits: &Limits) -> Self {
        Driver::with_config(limits.config(), limits.echo, limits.refuse)
    }

    /// A connection just accepted, with this configuration; `echo`: the handler echoes
    /// each message; `refuse`: it refuses upgrades.
    pub(crate) fn with_config(config: Config, echo: bool, refuse: bool) -> Self {
        let now = Instant::now();
        Driver {
            conn: Connection::new(([127, 0, 0, 1], 9).into(), now, &config),
            config,
            now,
            rbuf: ReadBuf::new(),
            peer: Peer::default(),
            echo,
            refuse,
            opened: false,
            closes: 0,
            wire: Vec::new(),
            base: 0,
            frames_from: None,
            frames: FrameStream::default(),
            shut: false,
            largest_item: 0,
            messages: Vec::new(),
            closed: None,
        }
    }

    fn step(&mut self, step: Step) {
        match step {
            Step::Bytes(bytes) => self.receive(bytes),
            Step::Upgrade => self.receive(UPGRADE.to_vec()),
            Step::Frame {
                head,
                mask,
                payload,
            } => self.receive(client_frame(head, mask, &payload)),
            Step::Advance(by) => self.advance(Duration::from_millis(u64::from(by) * 16)),
            Step::Send { binary, payload } => self.send(binary, payload),
            Step::SendLarge { binary, kib } => {
                self.send(binary, vec![b'x'; usize::from(kib) * 1024]);
            }
            Step::Close { code, reason } => {
                let frame = CloseFrame {
                    code: CloseCode::from(code),
                    reason: String::from_utf8_lossy(&reason).into_owned().into(),
                };
                self.conn
                    .close(frame, Cause::ServerClosed, &self.config, self.now);
            }
            Step::Respond { status, body } => {
                let response = Response::new(status).body(body);
                let before = self.conn.out.queued();
                self.conn.respond(&response, &self.config, self.now);
                let len = self.conn.out.queued() - before;
                self.largest_item = self.largest_item.max(len);
            }
            Step::Flush(room) => self.flush(usize::from(room)),
            Step::FlushAll => self.flush(usize::MAX),
            Step::Eof => {
                self.peer.eof = true;
                self.read();
            }
            Step::Reset => {
                self.peer.reset = true;
                self.read();
            }
            Step::Shutdown if self.conn.is_open() => {
                let frame = CloseFrame {
                    code: CloseCode::Away,
                    reason: "server shutting down".into(),
                };
                self.conn
                    .close(frame, Cause::Shutdown, &self.config, self.now);
            }
            Step::Shutdown => self.conn.end_plain(&self.config, self.now),
        }
    }

    pub(crate) fn receive(&mut self, bytes: Vec<u8>) {
        if self.peer.eof || self.peer.reset {
            return;
        }
        if !bytes.is_empty() {
            self.peer.chunks.push_back(bytes);
        }
        self.read();
    }

    /// Read passes, as the reactor runs them while the connection has input and is not
    /// paused.
    fn read(&mut self) {
        for _ in 0..64 {
            if self.conn.is_done() || self.conn.is_paused() {
                return;
            }
            let peer_closed = self.peer.eof || self.peer.reset;
            self.rbuf
                .begin(std::mem::take(&mut self.conn.carry), peer_closed);
            let mut pass = Pass::with_early_flush();
            loop {
                loop {
                    let input = Input {
                        rbuf: &mut self.rbuf,
                        src: &mut self.peer,
                        pass: &mut pass,
                    };
                    let event = self.conn.read(input, &self.config, self.now);
                    let Some(event) = event.map(Event::into_owned) else {
                        break;
                    };
                    self.handle(event);
                }
                // As the reactor does once a pass: the queue passed the soft limit, so it
                // is written now (to a socket that takes 4 KiB of it) and reading goes on.
                if !pass.take_flush() {
                    break;
                }
                self.flush(4096);
            }
            let more = pass.more || self.rbuf.more_pending();
            if !more && self.peer.chunks.is_empty() {
                return;
            }
        }
    }

    /// What the reactor and a handler do with an event.
    fn handle(&mut self, event: Event<'_>) {
        match event {
            Event::Upgrade(_) if self.refuse => {
                let response = Response::status_text(403);
                self.conn.refuse(&response, &self.config, self.now);
            }
            Event::Upgrade(_) => {
                self.conn.accept(&Accept::default(), &self.config, self.now);
                assert!(self.conn.is_open(), "an accepted upgrade opens");
                self.opened = true;
                self.frames_from = Some(self.base + self.wire.len() + self.conn.out.queued());
            }
            Event::Http(_) => {}
            Event::Message(msg) => {
                let msg = msg.into_message();
                let (opcode, payload) = match &msg {
                    Message::Text(text) => (OpCode::Text, Bytes::from(text.clone())),
                    Message::Binary(bytes) => (OpCode::Binary, bytes.clone()),
                    other => panic!("a control frame delivered as a message: {other:?}"),
                };
                self.messages.push(msg);
                if self.echo {
                    self.queue(opcode, payload);
                }
            }
            Event::Closed(why) => self.owe(Some(why)),
            Event::Rejected { status, .. } => {
                assert!((400..600).contains(&status), "a rejection with {status}");
            }
        }
    }

    fn send(&mut self, binary: bool, payload: Vec<u8>) {
        if binary {
            self.queue(OpCode::Binary, payload.into());
        } else {
            let text = String::from_utf8_lossy(&payload).into_owned();
            self.queue(OpCode::Text, text.into());
        }
    }

    fn queue(&mut self, opcode: OpCode, payload: Bytes) {
        let len = crate::conn::frame::encoded_len(payload.len());
        match self.conn.send(opcode, payload, &self.config, self.now) {
            Sent::Queued => self.largest_item = self.largest_item.max(len),
            Sent::Failed(why) => self.owe(Some(why)),
            Sent::Refused | Sent::Dropped => {}
        }
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        if self.conn.poll_at().is_some_and(|at| at <= self.now) {
            let owed = self.conn.on_timeout(&self.config, self.now);
            self.owe(owed);
        }
    }

    /// One write of the queue into a socket with `room` bytes free, then what the reactor
    /// does after a flush.
    pub(crate) fn flush(&mut self, room: usize) {
        if !self.conn.wants_flush() {
            return;
        }
        let before = self.wire.len();
        let mut socket = Socket {
            room,
            wire: &mut self.wire,
        };
        let all_out = match self.conn.out.write_to(&mut socket, &[]) {
            Ok(all_out) => all_out,
            Err(e) => panic!("a write that would block is not an error: {e}"),
        };
        let new = self.wire.len() - before;
        assert!(
            !self.shut || new == 0,
            "{new} bytes written after the shutdown"
        );
        let flushed = self.conn.on_flushed(all_out, &self.config);
        if flushed.shutdown {
            self.shut = true;
        }
        if flushed.resume {
            self.read();
        }
    }

    fn owe(&mut self, owed: Option<Disconnect>) {
        if let Some(why) = owed {
            assert!(
                self.opened,
                "on_close owed for a WebSocket that never opened"
            );
            self.closes += 1;
            assert_eq!(self.closes, 1, "on_close owed twice");
            self.closed = Some(why);
        }
    }

    /// The control frames written so far (after the 101), as `(opcode, payload)`.
    pub(crate) fn control_frames(&self) -> &[(u8, Vec<u8>)] {
        &self.frames.control
    }

    pub(crate) fn check(&mut self) {
        if let Some(at) = self.conn.poll_at() {
            assert!(at > self.now, "a deadline not in the future");
        }
        // What `send` lets through (one frame past the limit on an empty queue), or a
        // response queued before reading paused at the soft limit; plus what tungstenite
        // queues on its own: a Pong per Ping read and our Close, each at most 127 bytes,
        // within one pass's budget.
        let control =
            127usize.saturating_mul(self.config.get_messages_per_pass().saturating_add(2));
        let soft = self.config.get_backpressure_soft_limit();
        let bound = (self.config.get_max_backpressure())
            .max(self.largest_item)
            .max(soft.saturating_add(self.largest_item))
            .saturating_add(control);
        let pending = self.conn.out.pending();
        assert!(pending <= bound, "{pending} bytes queued, over {bound}");
        // Bytes from where the 101 ended on are frames; they are checked and let go.
        if let Some(from) = self.frames_from {
            let skip = from.saturating_sub(self.base).min(self.wire.len());
            self.frames.push(&self.wire[skip..]);
            self.base += self.wire.len();
            self.wire.clear();
        }
    }

    /// The connection is dropped, as the reactor drops a connection that is done or
    /// when the server stops: whatever it still owes is reported now.
    pub(crate) fn end(&mut self) {
        self.flush(usize::MAX);
        self.check();
        let owed = self.conn.reset();
        self.owe(owed);
        assert_eq!(
            self.closes,
            usize::from(self.opened),
            "on_close owed once per on_open"
        );
    }
}

/// A client frame: its first byte as given, masked if a key is given, with the shortest
/// length encoding.
pub(crate) fn client_frame(head: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![head];
    let masked = u8::from(mask.is_some()) << 7;
    match payload.len() {
        n @ 0..=125 => frame.push(masked | n as u8),
        n @ 126..=0xffff => {
            frame.push(masked | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(masked | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            frame.extend_from_slice(&key);
            frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => frame.extend_from_slice(payload),
    }
    frame
}

/// The seeds of the corpus: the scripts of the connection's unit tests and one per group of
/// the Autobahn suite's cases (1 data frames, 2 pings, 3 reserved bits, 4 opcodes,
/// 5 fragmentation, 6 UTF-8, 7 close, 9 sizes), plus plain HTTP and backpressure.
pub fn seeds() -> Vec<Vec<u8>> {
    let open = || Script::new(true, false).upgrade();
    let close_1000 = [0x03, 0xe8];
    let scripts = [
        open().frame(0x81, b"hello").flush_all(),
        open()
            .frame(0x82, &[0xab; 200])
            .frame(0x82, &[7; 70_000])
            .flush_all(),
        open().frame(0x89, b"ping").frame(0x8a, b"pong").flush_all(),
        open().frame(0x89, &[0; 126]).flush_all(),
        open().frame(0xc1, b"rsv").flush_all(),
        open().frame(0x83, b"").frame(0x8b, b"").flush_all(),
        open()
            .frame(0x01, b"Hel")
            .frame(0x89, b"")
            .frame(0x80, b"lo")
            .flush_all(),
        open().frame(0x80, b"orphan").flush_all(),
        open().frame(0x09, b"fragmented ping").flush_all(),
        open().frame(0x81, &[0xce, 0xba, 0xe1, 0xbd]).flush_all(),
        open()
            .frame(0x01, &[0xce, 0xba, 0xe1])
            .frame(0x80, &[0xbd, 0xb9])
            .flush_all(),
        open().frame(0x88, &close_1000).flush_all().eof(),
        open().frame(0x88, &[0x03, 0xe7]).flush_all(),
        open().frame(0x88, &[0x03, 0xed, 0xff]).flush_all(),
        open().frame(0x88, &[0x03]).flush_all(),
        open()
            .send("hi")
            .close(1000)
            .flush_all()
            .frame(0x88, &close_1000)
            .eof(),
        open().close(4000).advance(400).flush_all(),
        open().advance(7600).flush_all().advance(2000).flush_all(),
        open()
            .send("unread")
            .send("unread")
            .advance(7600)
            .advance(7600),
        open().bytes(b"\x81\x05hello").flush_all(),
        open().eof(),
        Script::new(true, true).upgrade().flush_all().eof(),
        Script::new(true, false)
            .bytes(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .respond(200)
            .flush_all()
            .bytes(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
            .respond(404)
            .flush_all()
            .upgrade()
            .frame(0x81, b"after keep-alive")
            .flush_all(),
        Script::new(true, false)
            .bytes(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab")
            .bytes(b"cde")
            .respond(204)
            .flush_all()
            .eof(),
        Script::new(true, false)
            .bytes(b"\x16\x03\x01\x02\x00\x01")
            .flush_all(),
        Script::new(true, false).advance(700).flush_all(),
    ];
    scripts.into_iter().map(Script::into_bytes).collect()
}
