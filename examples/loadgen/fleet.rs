//! All the client connections of a run and the event loop that drives them.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, SockAddr, Socket, Type};

use crate::client::{Client, Failure, Tally, Workload};
use crate::stats::Latencies;
use crate::transport::Security;

/// Connections in the connect/upgrade phase at once, so a burst of thousands does not
/// overflow the server's listen backlog.
const MAX_PENDING: usize = 256;
/// Failure messages kept for the report; the rest are only counted.
const KEEP_FAILURES: usize = 5;

pub struct Fleet {
    target: SocketAddr,
    /// Connections to open in all.
    pub conns: usize,
    pub workload: Workload,
    pub security: Security,
    pub tally: Tally,
    /// Connections that completed the upgrade.
    pub opened: usize,
    pub failures: Vec<String>,
    /// What the first TLS connection negotiated (version, cipher suite, key exchange).
    pub negotiated: Option<String>,
    poll: Poll,
    events: Events,
    clients: Vec<Option<Client>>,
    pending: usize,
    scratch: Vec<u8>,
}

impl Fleet {
    pub fn new(
        target: SocketAddr,
        conns: usize,
        workload: Workload,
        security: Security,
    ) -> io::Result<Self> {
        Ok(Fleet {
            target,
            conns,
            workload,
            security,
            tally: Tally {
                sending: true,
                measuring: false,
                echoes: 0,
                window_echoes: 0,
                window_bytes: 0,
                latencies: Latencies::default(),
            },
            opened: 0,
            failures: Vec::new(),
            negotiated: None,
            poll: Poll::new()?,
            events: Events::with_capacity(4096),
            clients: Vec::with_capacity(conns),
            pending: 0,
            scratch: vec![0; 256 * 1024],
        })
    }

    /// Opens every connection and waits for their upgrades, for at most `patience`.
    pub fn connect_all(&mut self, patience: Duration) -> io::Result<()> {
        let start = Instant::now();
        self.open_more();
        while !(self.clients.len() == self.conns && self.pending == 0) && start.elapsed() < patience
        {
            self.step(Duration::from_millis(100))?;
        }
        Ok(())
    }

    /// Runs the loop while `more` says so; it is asked after every poll, which waits at
    /// most 50 ms.
    pub fn run_while(&mut self, mut more: impl FnMut(&Fleet) -> bool) -> io::Result<()> {
        while more(self) {
            self.step(Duration::from_millis(50))?;
        }
        Ok(())
    }

    /// Whether every live connection got all its echoes.
    pub fn all_done(&self) -> bool {
        self.clients
            .iter()
            .flatten()
            .all(|c| c.done(&self.workload))
    }

    /// Connections alive.
    pub fn live(&self) -> usize {
        self.clients.iter().flatten().count()
    }

    /// Starts connects until `MAX_PENDING` are in progress or all were started.
    fn open_more(&mut self) {
        while self.pending < MAX_PENDING && self.clients.len() < self.conns {
            let i = self.clients.len();
            let client = connect(self.target, i).and_then(|mut sock| {
                let transport = self.security.start()?;
                self.poll.registry().register(
                    &mut sock,
                    Token(i),
                    Interest::READABLE | Interest::WRITABLE,
                )?;
                Ok(Client::new(
                    sock,
                    transport,
                    0x9E37_79B9_7F4A_7C15 ^ i as u64,
                ))
            });
            match client {
                Ok(c) => {
                    self.clients.push(Some(c));
                    self.pending += 1;
                }
                Err(e) => {
                    self.clients.push(None);
                    record(&mut self.failures, Failure::Connect(e));
                }
            }
        }
    }

    /// One poll and its events.
    fn step(&mut self, timeout: Duration) -> io::Result<()> {
        self.poll.poll(&mut self.events, Some(timeout))?;
        for event in self.events.iter() {
            // Per event, not per poll: a message written late in a long batch must not be
            // stamped with the batch's start, nor an echo read late with it.
            let now = Instant::now();
            let i = event.token().0;
            let Some(client) = self.clients.get_mut(i).and_then(Option::as_mut) else {
                continue;
            };
            let was_open = client.is_open();
            let result = client.on_event(&self.workload, &mut self.scratch, now, &mut self.tally);
            let opened_now = !was_open && client.is_open();
            match result {
                Err(why) => {
                    if !was_open {
                        self.pending -= 1;
                    }
                    if let Some(mut c) = self.clients[i].take() {
                        let _ = self.poll.registry().deregister(c.sock());
                    }
                    record(&mut self.failures, why);
                }
                Ok(()) if opened_now => {
                    self.pending -= 1;
                    self.opened += 1;
                    if self.negotiated.is_none() {
                        self.negotiated = client.transport().negotiated();
                    }
                }
                Ok(()) => {}
            }
        }
        self.open_more();
        Ok(())
    }
}

fn record(failures: &mut Vec<String>, why: Failure) {
    match failures.len() {
        n if n < KEEP_FAILURES => failures.push(why.to_string()),
        KEEP_FAILURES => failures.push("...".into()),
        _ => {}
    }
}

/// A fresh non-blocking connect, from a spread source address when the target is loopback.
fn connect(target: SocketAddr, index: usize) -> io::Result<TcpStream> {
    let sock = Socket::new(Domain::for_address(target), Type::STREAM, None)?;
    sock.set_nonblocking(true)?;
    if let IpAddr::V4(ip) = target.ip() {
        if ip.is_loopback() {
            let src = Ipv4Addr::new(127, 0, 0, 1 + (index % 250) as u8);
            sock.bind(&SockAddr::from(SocketAddr::new(src.into(), 0)))?;
        }
    }
    match sock.connect(&SockAddr::from(target)) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(sock.into()))
}
