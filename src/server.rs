//! [`Server`]: bind, then run the reactors with a handler each.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::config::Config;
use crate::handle::Handle;
use crate::handler::Handler;
use crate::reactor::{self, Reactor};

/// A WebSocket server: one reactor on one thread, or several on one port.
///
/// ```no_run
/// // An echo server: the closure's `Some` return is the reply.
/// # fn main() -> std::io::Result<()> {
/// wsreactor::Server::bind("127.0.0.1:8080")?.run(|msg| Some(msg))
/// # }
/// ```
///
/// # Several reactors
///
/// With [`Config::reactors`] above 1 the server runs that many reactors, each on its own
/// thread with its own poller, connections, buffers and timers, all serving one port.
/// Nothing is shared on the way from a read to a callback to a write, so each reactor
/// costs per message what a single one does. Each runs a handler of its own, made on its
/// thread by a closure given to [`run_with`](Self::run_with) or
/// [`spawn_with`](Self::spawn_with), which is told the reactor's number:
///
/// ```no_run
/// use wsreactor::{Config, Server};
///
/// # fn main() -> std::io::Result<()> {
/// let config = Config::default().reactors(0); // one per core
/// Server::bind_with("127.0.0.1:8080", config)?.run_with(|_reactor| |msg| Some(msg))
/// # }
/// ```
///
/// Why a closure that makes handlers, and not `Handler: Clone + Send`: a handler built on
/// its reactor's thread never crosses threads, so it may hold what cannot (`Rc`,
/// `RefCell`: a Socket.IO server's callbacks do), and each reactor's state is its own by
/// construction. A handler that is `Clone + Send + Sync` is one closure away:
/// `run_with(move |_| handler.clone())`. State the reactors must share is shared
/// explicitly, by the `Arc` the closure clones into each.
///
/// A connection stays on the reactor that took it ([`ConnId::reactor`](crate::ConnId::reactor)
/// names it); how new ones are spread is [`Config::spread`]. Across reactors, sends to a
/// connection, rooms, publishing, broadcasting ([`ServerCtx`](crate::ServerCtx)) and every
/// [`Handle`] work as on one: what goes to another reactor's connections travels through
/// that reactor's bounded command queue, and a full queue is an error the sender sees.
#[derive(Debug)]
pub struct Server {
    /// Reactor 0 first; it runs on the thread that calls `run` or `run_with`.
    reactors: Vec<Reactor>,
    handle: Handle,
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
            match reactor::bind(resolved, &config) {
                Ok((reactors, handle)) => return Ok(Server { reactors, handle }),
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

    /// A server on a listening socket made elsewhere: passed by systemd's socket
    /// activation, inherited from a parent, bound with options of the caller's. It is
    /// made non-blocking. With several reactors, reactor 0 accepts on it and hands the
    /// connections to the others in turn ([`Spread::HandOff`](crate::Spread::HandOff),
    /// whatever [`Config::spread`] says): they cannot share a socket they did not bind.
    /// `InvalidInput` if the configuration's values do not fit together.
    ///
    /// ```
    /// use wsreactor::{Config, Server};
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// let server = Server::from_listener(listener, Config::default())?;
    /// assert_eq!(server.local_addr()?, addr);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_listener(listener: std::net::TcpListener, config: Config) -> io::Result<Server> {
        config.validate()?;
        listener.set_nonblocking(true)?;
        let listener = mio::net::TcpListener::from_std(listener);
        let (reactors, handle) = reactor::adopt_listener(listener, &config)?;
        Ok(Server { reactors, handle })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.reactors[0].local_addr()
    }

    /// How many reactors it runs ([`Config::reactors`], `0` made one per core).
    pub fn reactors(&self) -> usize {
        self.reactors.len()
    }

    /// A handle for other threads: send, publish, close, shut down. Can be taken before
    /// the server runs. It reaches every reactor.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Runs the reactor on this thread, calling `handler` for every event, until a
    /// [`Handle::shutdown`] has closed every connection (or an error of the poller).
    ///
    /// For one reactor (the default). With [`Config::reactors`] above 1 each reactor needs
    /// a handler of its own: this returns `InvalidInput` at once, and
    /// [`run_with`](Self::run_with) is the way.
    pub fn run(self, mut handler: impl Handler) -> io::Result<()> {
        let [reactor] = <[Reactor; 1]>::try_from(self.reactors).map_err(several)?;
        run_reactor(reactor, &mut handler)
    }

    /// Runs every reactor, each with a handler that `make` builds on the reactor's thread
    /// (told the reactor's number, from 0), until a [`Handle::shutdown`] has closed every
    /// connection on all of them. Reactor 0 runs on this thread, the others on threads of
    /// their own named `wsreactor-N`. If one reactor fails (an error of its poller), the
    /// others are shut down and the first error is returned once all have stopped.
    ///
    /// With one reactor this is [`run`](Self::run) with `make(0)`: no other thread.
    ///
    /// ```
    /// use wsreactor::{Config, Server};
    /// let server = Server::bind_with("127.0.0.1:0", Config::default().reactors(2))?;
    /// let handle = server.handle();
    /// let thread = std::thread::spawn(move || {
    ///     // A Socket.IO server, or any handler holding `Rc`s, would be built here as well.
    ///     server.run_with(|_reactor| wsreactor::Echo)
    /// });
    /// handle.shutdown().unwrap();
    /// thread.join().unwrap()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn run_with<H: Handler>(self, make: impl Fn(usize) -> H + Sync) -> io::Result<()> {
        let Server { reactors, handle } = self;
        let make = &make;
        thread::scope(|scope| {
            let mut reactors = reactors.into_iter();
            let first = reactors.next().expect("a server has a reactor");
            let mut threads = Vec::new();
            for reactor in reactors {
                let (index, all) = (reactor.index(), handle.clone());
                let spawned = thread::Builder::new()
                    .name(format!("wsreactor-{index}"))
                    .spawn_scoped(scope, move || {
                        let _stop = StopAllOnPanic(&all);
                        stop_all_on_error(run_reactor(reactor, &mut make(index)), &all)
                    });
                match spawned {
                    Ok(thread) => threads.push(thread),
                    Err(e) => {
                        // The ones started stop again; the scope waits for them.
                        let _ = handle.shutdown();
                        return Err(e);
                    }
                }
            }
            let _stop = StopAllOnPanic(&handle);
            let mut result = stop_all_on_error(run_reactor(first, &mut make(0)), &handle);
            for thread in threads {
                let outcome = thread
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p));
                result = result.and(outcome);
            }
            result
        })
    }

    /// [`run_with`](Self::run_with) on a thread of its own; returns a handle to the server
    /// and that thread.
    ///
    /// ```
    /// use wsreactor::{Config, Server};
    /// let server = Server::bind_with("127.0.0.1:0", Config::default().reactors(2))?;
    /// let (handle, thread) = server.spawn_with(|_reactor| wsreactor::Echo);
    /// handle.shutdown().unwrap();
    /// thread.join().unwrap()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn_with<H, F>(self, make: F) -> (Handle, JoinHandle<io::Result<()>>)
    where
        H: Handler,
        F: Fn(usize) -> H + Send + Sync + 'static,
    {
        self.on_thread(move |server| server.run_with(make))
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
        self.on_thread(move |server| server.run(handler))
    }

    /// Runs `run` with the server on a thread of its own (`spawn`, `spawn_with`).
    fn on_thread(
        self,
        run: impl FnOnce(Server) -> io::Result<()> + Send + 'static,
    ) -> (Handle, JoinHandle<io::Result<()>>) {
        let handle = self.handle();
        let thread = thread::Builder::new()
            .name("wsreactor".into())
            .spawn(move || run(self))
            .expect("spawning a thread");
        (handle, thread)
    }

    /// Whether the server still runs: `false` once a shutdown has completed on every
    /// reactor.
    pub fn is_running(&self) -> bool {
        self.reactors.iter().any(Reactor::is_running)
    }

    /// Runs one pass of the reactor, sleeping at most `timeout` for events (`None`: until
    /// something happens), for programs that drive it from a loop of their own. For one
    /// reactor: with several, `InvalidInput` (each runs on its own thread:
    /// [`run_with`](Self::run_with)).
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
        match &mut self.reactors[..] {
            [reactor] => reactor.tick(handler, timeout),
            reactors => Err(several(reactors)),
        }
    }
}

/// Runs one reactor until it stops.
fn run_reactor(mut reactor: Reactor, handler: &mut impl Handler) -> io::Result<()> {
    while reactor.is_running() {
        reactor.tick(handler, None)?;
    }
    Ok(())
}

/// A reactor that failed takes the others down with it, so `run_with` returns.
fn stop_all_on_error(result: io::Result<()>, handle: &Handle) -> io::Result<()> {
    if result.is_err() {
        let _ = handle.shutdown();
    }
    result
}

/// Shuts the other reactors down if this one panics (a bug outside the callbacks, whose
/// panics are caught), so the panic reaches the caller of `run_with`.
struct StopAllOnPanic<'a>(&'a Handle);

impl Drop for StopAllOnPanic<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            let _ = self.0.shutdown();
        }
    }
}

/// The error of a single-reactor call on a server with several.
fn several<T>(reactors: impl AsRef<[T]>) -> io::Error {
    let n = reactors.as_ref().len();
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("the server has {n} reactors: each needs a handler (Server::run_with)"),
    )
}
