//! [`Server`]: bind, then run the reactor with a handler.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::config::Config;
use crate::handle::Handle;
use crate::handler::Handler;
use crate::reactor::Reactor;

/// A WebSocket server on one thread.
///
/// ```no_run
/// // An echo server: the closure's `Some` return is the reply.
/// # fn main() -> std::io::Result<()> {
/// wsreactor::Server::bind("127.0.0.1:8080")?.run(|msg| Some(msg))
/// # }
/// ```
#[derive(Debug)]
pub struct Server {
    reactor: Reactor,
}

impl Server {
    /// Binds with the default [`Config`]. Port 0 picks a free port; see
    /// [`local_addr`](Self::local_addr).
    ///
    /// An error keeps the [`ErrorKind`](io::ErrorKind) of its cause (`AddrInUse`,
    /// `PermissionDenied`, `InvalidInput` for an address that does not parse) and its
    /// message names the address:
    ///
    /// ```
    /// let first = wsreactor::Server::bind("127.0.0.1:0")?;
    /// let taken = first.local_addr()?;
    /// let err = wsreactor::Server::bind(taken).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    /// assert!(err.to_string().starts_with(&format!("cannot bind {taken}: ")));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind(addr: impl ToSocketAddrs + fmt::Debug) -> io::Result<Server> {
        Server::bind_with(addr, Config::default())
    }

    /// Binds with a configuration; `InvalidInput` if its values do not fit together.
    /// Errors are those of [`bind`](Self::bind).
    ///
    /// ```
    /// use wsreactor::{Config, Server};
    /// let server = Server::bind_with("127.0.0.1:0", Config::default().max_message_size(4096))?;
    /// assert_ne!(server.local_addr()?.port(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind_with(addr: impl ToSocketAddrs + fmt::Debug, config: Config) -> io::Result<Server> {
        // The config first: its errors are about the config, not about the address.
        config.validate()?;
        // std's errors name neither the address nor what was being done (`invalid port
        // value`, `Address already in use`): a user with several listeners, or a typo in
        // a config file, needs both. The kind stays, so callers can still match on it.
        let addrs = addr
            .to_socket_addrs()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot resolve {addr:?}: {e}")))?;
        let mut last_err = None;
        // Like `TcpListener::bind`: the first address that binds wins, else the last error.
        for resolved in addrs {
            match Reactor::bind(resolved, config.clone()) {
                Ok(reactor) => return Ok(Server { reactor }),
                Err(e) => {
                    last_err = Some(io::Error::new(
                        e.kind(),
                        format!("cannot bind {resolved}: {e}"),
                    ))
                }
            }
        }
        Err(last_err.unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot bind {addr:?}: it resolves to no address"),
            )
        }))
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.reactor.local_addr()
    }

    /// A handle for other threads: send, publish, close, shut down. Can be taken before
    /// the server runs.
    pub fn handle(&self) -> Handle {
        self.reactor.handle()
    }

    /// Runs the reactor on this thread, calling `handler` for every event, until a
    /// [`Handle::shutdown`] has closed every connection (or an error of the poller).
    pub fn run(mut self, mut handler: impl Handler) -> io::Result<()> {
        while self.reactor.is_running() {
            self.reactor.tick(&mut handler, None)?;
        }
        Ok(())
    }

    /// Runs the server on a thread of its own; returns a handle to it and the thread.
    ///
    /// ```
    /// let server = wsreactor::Server::bind("127.0.0.1:0")?;
    /// let (handle, thread) = server.spawn(|msg| Some(msg));
    /// handle.shutdown().unwrap();
    /// thread.join().unwrap()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Handlers that are not `Send`, such as Socket.IO
    ///
    /// `spawn` moves the handler to the new thread, so the handler must be `Send`. A
    /// Socket.IO server (`wsreactor::socketio::SocketIo`) is not: its callbacks may share
    /// state through `Rc<RefCell<..>>`, since they all run on the reactor's thread. Passing
    /// one to `spawn` fails to compile with a long error that ends in "cannot be sent
    /// between threads safely".
    ///
    /// Build such a handler on the thread that runs it instead. Bind first, on this
    /// thread: a bind error surfaces here, and [`handle`](Self::handle) and
    /// [`local_addr`](Self::local_addr) are at hand. Then move the `Server`, which is
    /// `Send`, into a thread that builds the handler and calls [`run`](Self::run):
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    ///
    /// let server = wsreactor::Server::bind("127.0.0.1:0")?;
    /// let handle = server.handle(); // taken before the server moves
    /// let thread = std::thread::spawn(move || {
    ///     // Made here, never moved across threads: `Rc` is fine.
    ///     let echoed = Rc::new(RefCell::new(0_u64));
    ///     server.run(move |msg| {
    ///         *echoed.borrow_mut() += 1;
    ///         Some(msg)
    ///     })
    /// });
    /// handle.shutdown().unwrap();
    /// thread.join().unwrap()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// The same with Socket.IO (feature `socketio`):
    ///
    #[cfg_attr(feature = "socketio", doc = "```")]
    #[cfg_attr(not(feature = "socketio"), doc = "```text")]
    /// use wsreactor::socketio::{Options, SocketIo};
    ///
    /// let server = wsreactor::Server::bind("127.0.0.1:0")?;
    /// let handle = server.handle();
    /// let thread = std::thread::spawn(move || {
    ///     let mut io = SocketIo::new(Options::default());
    ///     io.of("/").on_connection(|socket| {
    ///         socket.on("ping", |socket, _msg, _ack| {
    ///             socket.emit("pong", "hi").ok();
    ///         });
    ///     });
    ///     server.run(io)
    /// });
    /// // From here on, `handle` reaches the server (`shutdown`, `publish`, ...).
    /// handle.shutdown().unwrap();
    /// thread.join().unwrap()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn<H: Handler + Send + 'static>(
        self,
        handler: H,
    ) -> (Handle, JoinHandle<io::Result<()>>) {
        let handle = self.handle();
        let thread = thread::Builder::new()
            .name("wsreactor".into())
            .spawn(move || self.run(handler))
            .expect("spawning a thread");
        (handle, thread)
    }

    /// Whether the server still runs: `false` once a shutdown has completed.
    pub fn is_running(&self) -> bool {
        self.reactor.is_running()
    }

    /// Runs one pass of the reactor, sleeping at most `timeout` for events (`None`: until
    /// something happens), for programs that drive it from a loop of their own.
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut server = wsreactor::Server::bind("127.0.0.1:0")?;
    /// let mut echo = wsreactor::Echo;
    /// server.poll(&mut echo, Some(Duration::from_millis(1)))?; // nothing connected: returns
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn poll(
        &mut self,
        handler: &mut impl Handler,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        self.reactor.tick(handler, timeout)
    }
}
