//! A Socket.IO client for the load benches (`socketio_load`, `cluster_load`): raw
//! WebSocket frames on a std socket, kept cheap so the server is what is measured. It
//! speaks Engine.IO v4 / Socket.IO v5 over WebSocket, the main namespace only.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A client's WebSocket: raw frames on a std socket (blocking, or non-blocking once
/// [`Client::fill_until_would_block`] is how it is read).
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
    len: usize,
}

/// A masked client text frame (RFC 6455 §5.3; the mask need not be random for a benchmark).
pub fn text_frame(payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut f = vec![0x81];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// The header and payload lengths of the complete server frame at the start of `bytes`.
fn frame_at(bytes: &[u8]) -> Option<(usize, usize)> {
    let (head, len) = match *bytes.get(1)? & 0x7f {
        126 => (
            4,
            u16::from_be_bytes([*bytes.get(2)?, *bytes.get(3)?]) as usize,
        ),
        127 => {
            let n: [u8; 8] = bytes.get(2..10)?.try_into().ok()?;
            (10, u64::from_be_bytes(n) as usize)
        }
        n => (2, n as usize),
    };
    (bytes.len() >= head + len).then_some((head, len))
}

impl Client {
    /// Connects, upgrades, reads the Engine.IO open packet, joins the main namespace.
    pub fn connect(addr: &str) -> io::Result<Client> {
        let mut stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(
            stream,
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {addr}\r\n\
             Upgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )?;
        let mut client = Client {
            stream,
            buf: vec![0; 256 * 1024],
            len: 0,
        };
        let head_end = loop {
            client.fill()?;
            if let Some(i) = client.buf[..client.len]
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
            {
                break i + 4;
            }
        };
        if !client.buf.starts_with(b"HTTP/1.1 101") {
            return Err(io::Error::other("upgrade refused"));
        }
        client.buf.copy_within(head_end..client.len, 0);
        client.len -= head_end;
        let mut opened = false;
        client.until(|payload| {
            opened = payload.starts_with(b"0{");
            opened
        })?;
        client.stream.write_all(&text_frame(b"40"))?;
        client.until(|payload| payload.starts_with(b"40{"))?;
        Ok(client)
    }

    /// Reads once into the buffer (growing it when full).
    fn fill(&mut self) -> io::Result<()> {
        if self.len == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        match self.stream.read(&mut self.buf[self.len..])? {
            0 => Err(io::ErrorKind::UnexpectedEof.into()),
            n => {
                self.len += n;
                Ok(())
            }
        }
    }

    /// On a non-blocking socket: reads until the socket has nothing more for now.
    pub fn fill_until_would_block(&mut self) -> io::Result<()> {
        loop {
            match self.fill() {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Hands each complete buffered frame's payload to `f`, reading once first if there is
    /// none. Engine.IO pings are answered here.
    pub fn read_frames(&mut self, f: impl FnMut(&[u8])) -> io::Result<()> {
        while !self.has_frame() {
            self.fill()?;
        }
        self.take_frames(f)
    }

    /// Hands each complete buffered frame's payload to `f` (none: nothing to do). Engine.IO
    /// pings (`2`) are handed over too, and answered here.
    pub fn take_frames(&mut self, mut f: impl FnMut(&[u8])) -> io::Result<()> {
        let mut at = 0;
        let mut pongs = 0;
        loop {
            let rest = &self.buf[at..self.len];
            let Some((head, len)) = frame_at(rest) else {
                break;
            };
            if rest[0] & 0x0f == 0x8 {
                return Err(io::Error::other("closed by the server"));
            }
            let payload = &rest[head..head + len];
            if payload == b"2" {
                pongs += 1;
            }
            f(payload);
            at += head + len;
        }
        self.buf.copy_within(at..self.len, 0);
        self.len -= at;
        for _ in 0..pongs {
            self.stream.write_all(&text_frame(b"3"))?;
        }
        Ok(())
    }

    fn has_frame(&self) -> bool {
        frame_at(&self.buf[..self.len]).is_some()
    }

    /// Reads frames until `f` says one was the one awaited.
    pub fn until(&mut self, mut f: impl FnMut(&[u8]) -> bool) -> io::Result<()> {
        let mut done = false;
        while !done {
            self.read_frames(|p| done |= f(p))?;
        }
        Ok(())
    }
}
