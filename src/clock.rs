//! Where the reactor reads the time: the system's monotonic clock, or a [`ManualClock`]
//! that a test moves forward itself.
//!
//! The reactor reads its clock once per pass, after `poll` returns, and passes that
//! instant down to every connection and timer; nothing below it reads a clock.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::handle::Handle;

/// The reactor's source of time.
#[derive(Debug, Clone, Default)]
pub(crate) enum Clock {
    #[default]
    System,
    Manual(ManualClock),
}

impl Clock {
    /// The time now. The one read of the system clock in the library: the reactor calls
    /// this once per pass.
    pub(crate) fn now(&self) -> Instant {
        match self {
            Clock::System => Instant::now(),
            Clock::Manual(clock) => clock.now(),
        }
    }
}

/// A clock that moves only when told to: timeouts, keepalive pings and timers fire
/// exactly when a test says, however busy the machine is.
///
/// Give it to a server with [`Config::manual_clock`](crate::Config::manual_clock), then
/// [`advance`](Self::advance) it; every server using it wakes and runs what is due.
/// Between advances time stands still, so a deadline is never passed by a slow scheduler.
///
/// Every timeout counts on this clock, the shutdown's too: [`Handle::shutdown`] waits for
/// the peers' close handshakes up to `close_timeout` of this clock's time, so with clients
/// still connected that do not answer, `run` returns only once the clock has moved past it.
/// Close the clients first, or advance the clock after the shutdown has begun:
/// [`Handler::on_shutdown`] runs then and can tell the test. (An advance made before the
/// reactor has taken the shutdown command does not count: the close timeout starts when it
/// does.)
///
/// [`Handle::shutdown`]: crate::Handle::shutdown
/// [`Handler::on_shutdown`]: crate::Handler::on_shutdown
///
/// ```
/// use std::time::Duration;
/// use wsreactor::{Config, ManualClock, Server};
///
/// let clock = ManualClock::new();
/// let config = Config::default().manual_clock(clock.clone());
/// let server = Server::bind_with("127.0.0.1:0", config)?;
/// let (handle, thread) = server.spawn(wsreactor::Echo);
/// clock.advance(Duration::from_secs(120)); // the idle timeout passes for every connection
/// handle.shutdown().unwrap();
/// thread.join().unwrap()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct ManualClock {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    now: Instant,
    /// The servers to wake when time moves.
    handles: Vec<Handle>,
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock").finish_non_exhaustive()
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl ManualClock {
    /// A clock that stands at the system's time now (an `Instant` can only be made from
    /// the system clock) until advanced.
    pub fn new() -> Self {
        ManualClock {
            inner: Arc::new(Mutex::new(Inner {
                now: Instant::now(),
                handles: Vec::new(),
            })),
        }
    }

    /// Moves the clock forward and wakes every server that uses it.
    pub fn advance(&self, by: Duration) {
        let handles = {
            let mut inner = self.lock();
            inner.now += by;
            inner.handles.clone()
        };
        for handle in handles {
            handle.wake();
        }
    }

    /// The clock's time.
    pub fn now(&self) -> Instant {
        self.lock().now
    }

    /// Wakes this server whenever the clock moves.
    pub(crate) fn attach(&self, handle: Handle) {
        self.lock().handles.push(handle);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The data is an instant and a list: a panic elsewhere cannot leave it half-written.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
