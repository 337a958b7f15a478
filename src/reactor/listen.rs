//! Listening sockets: one for a single reactor, or one per reactor on the same port.

use std::io;
use std::net::SocketAddr;

use mio::net::TcpListener;

use crate::config::Spread;

/// Pending connections the kernel holds per listening socket before the reactor accepts
/// them: what `mio::net::TcpListener::bind` (and std's) asks for, as with one reactor.
const BACKLOG: i32 = 128;

/// The listening sockets of `reactors` reactors on `addr`, reactor 0's first: one for a
/// single reactor or [`Spread::HandOff`] (the others get `None`), else one per reactor
/// bound to the same port with `SO_REUSEPORT`. Port 0 picks a free port for all of them.
pub(super) fn listen(
    addr: SocketAddr,
    reactors: usize,
    spread: Spread,
) -> io::Result<Vec<Option<TcpListener>>> {
    let mut listeners = Vec::with_capacity(reactors);
    if reactors == 1 || spread == Spread::HandOff {
        listeners.push(Some(TcpListener::bind(addr)?));
        listeners.resize_with(reactors, || None);
        return Ok(listeners);
    }
    let mut at = addr;
    for _ in 0..reactors {
        let listener = reuse_port(at)?;
        // The first picked the port if asked for port 0; the others share it.
        at = listener.local_addr()?;
        listeners.push(Some(listener));
    }
    Ok(listeners)
}

/// A listening socket on `addr` that other sockets may bind too (`SO_REUSEPORT`): the
/// kernel hands each new connection to one of them by a hash of its addresses.
#[cfg(unix)]
fn reuse_port(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // As mio's `bind`: a restarted server need not wait for TIME_WAIT to end.
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(TcpListener::from_std(socket.into()))
}

/// Without `SO_REUSEPORT` (Windows) the sockets could not share the port.
#[cfg(not(unix))]
fn reuse_port(_addr: SocketAddr) -> io::Result<TcpListener> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "Spread::ReusePort needs SO_REUSEPORT (Unix); use Spread::HandOff",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuse_port_listeners_share_one_free_port() {
        let addr = "127.0.0.1:0".parse().unwrap();
        let listeners = listen(addr, 3, Spread::ReusePort).unwrap();
        let ports: Vec<u16> = (listeners.iter())
            .map(|l| l.as_ref().unwrap().local_addr().unwrap().port())
            .collect();
        assert_ne!(ports[0], 0);
        assert_eq!(ports, [ports[0]; 3]);
    }

    #[test]
    fn one_listener_for_the_hand_off_and_for_one_reactor() {
        let addr = "127.0.0.1:0".parse().unwrap();
        for (reactors, spread) in [(3, Spread::HandOff), (1, Spread::ReusePort)] {
            let listeners = listen(addr, reactors, spread).unwrap();
            assert_eq!(listeners.len(), reactors);
            assert!(listeners[0].is_some());
            assert!(listeners[1..].iter().all(Option::is_none));
        }
    }

    #[test]
    fn a_port_held_without_reuse_port_is_in_use() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let err = listen(taken.local_addr().unwrap(), 2, Spread::ReusePort).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    }
}
