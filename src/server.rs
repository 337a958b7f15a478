//! [`Server`]: bind, then run the reactor with a handler.

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
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<Server> {
        Server::bind_with(addr, Config::default())
    }

    /// Binds with a configuration; `InvalidInput` if its values do not fit together.
    ///
    /// ```
    /// use wsreactor::{Config, Server};
    /// let server = Server::bind_with("127.0.0.1:0", Config::default().max_message_size(4096))?;
    /// assert_ne!(server.local_addr()?.port(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind_with(addr: impl ToSocketAddrs, config: Config) -> io::Result<Server> {
        let mut last_err = None;
        for addr in addr.to_socket_addrs()? {
            match Reactor::bind(addr, config.clone()) {
                Ok(reactor) => return Ok(Server { reactor }),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err
            .unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to bind")))
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
