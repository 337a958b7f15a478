//! Running out of file descriptors: `accept` fails with `EMFILE` while the connection waits
//! in the kernel's backlog, and the listener keeps reporting it. The server must back off
//! (one retry per 100 ms) instead of spinning, keep serving the connections it has, and
//! accept the waiting one once descriptors are free again.
//!
//! A test binary of its own with a single test, because it lowers `RLIMIT_NOFILE` for the
//! whole process.

mod common;

use std::fs::File;
use std::io::Write;
use std::net::TcpStream;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{client, read_head, upgrade_request, PATIENCE};
use tungstenite::Message;
use wsreactor::{Echo, Server};

/// The back-off the server documents between accept retries.
const BACKOFF: Duration = Duration::from_millis(100);

/// Counts the server's "accept failed" warnings: one per accept attempt that failed.
struct AcceptFailures(AtomicUsize);

impl log::Log for AcceptFailures {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record<'_>) {
        if record.args().to_string().starts_with("accept failed") {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn flush(&self) {}
}

static FAILURES: AcceptFailures = AcceptFailures(AtomicUsize::new(0));

fn nofile_limit() -> libc::rlimit {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    limit
}

fn set_nofile_limit(limit: libc::rlimit) {
    // SAFETY: setrlimit reads the struct we pass.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
}

/// CPU time a thread has used (user + system), from its /proc stat file, opened while
/// there were descriptors to spare and re-read in place.
fn thread_cpu(stat_file: &File) -> Duration {
    let mut buf = [0u8; 1024];
    let n = stat_file.read_at(&mut buf, 0).unwrap();
    let stat = std::str::from_utf8(&buf[..n]).unwrap();
    // Fields after the parenthesised name start at field 3 (state); utime and stime are
    // fields 14 and 15, in clock ticks.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis(ticks * 1000 / per_second)
}

#[test]
fn accept_backs_off_on_emfile_and_recovers() {
    log::set_logger(&FAILURES).unwrap();
    log::set_max_level(log::LevelFilter::Warn);

    let server = Server::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let (tid_tx, tid_rx) = mpsc::channel();
    thread::spawn(move || {
        // "/proc/thread-self" links to "<pid>/task/<tid>".
        let link = std::fs::read_link("/proc/thread-self").unwrap();
        tid_tx.send(link.file_name().unwrap().to_owned()).unwrap();
        server.run(Echo)
    });
    let tid = tid_rx.recv().unwrap();
    let server_stat =
        File::open(format!("/proc/self/task/{}/stat", tid.to_str().unwrap())).unwrap();
    let mut open = client(addr);

    // Use up every descriptor but one, under a lowered limit, then let one client in: its
    // connection completes in the kernel, but the server cannot accept it.
    let saved = nofile_limit();
    let in_use = std::fs::read_dir("/proc/self/fd").unwrap().count() as libc::rlim_t;
    set_nofile_limit(libc::rlimit {
        rlim_cur: in_use + 8,
        ..saved
    });
    let mut fillers = Vec::new();
    loop {
        match File::open("/dev/null") {
            Ok(file) => fillers.push(file),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => break,
            Err(e) => panic!("unexpected error filling the fd table: {e}"),
        }
    }
    fillers.pop();
    let mut waiting = TcpStream::connect(addr).unwrap();
    waiting.set_read_timeout(Some(PATIENCE)).unwrap();
    waiting
        .write_all(upgrade_request(addr, "/").as_bytes())
        .unwrap();

    // Watch the server fail a few times.
    let (start, cpu_start) = (Instant::now(), thread_cpu(&server_stat));
    let failures_start = FAILURES.0.load(Ordering::SeqCst);
    while FAILURES.0.load(Ordering::SeqCst) < failures_start + 5 {
        assert!(start.elapsed() < PATIENCE, "accept never failed");
        thread::sleep(Duration::from_millis(10));
    }
    let (wall, cpu) = (start.elapsed(), thread_cpu(&server_stat) - cpu_start);
    let failures = FAILURES.0.load(Ordering::SeqCst) - failures_start;

    // Open connections are served meanwhile.
    open.send(Message::text("still served")).unwrap();
    assert_eq!(open.read().unwrap(), Message::text("still served"));

    // At most one retry per back-off period: a spinning loop would fail thousands of
    // times, and burn the server thread's CPU for the whole wait instead of ~none of it.
    let periods = (wall.as_millis() / BACKOFF.as_millis()) as usize;
    assert!(
        failures <= periods + 1,
        "{failures} failed accepts in {wall:?}: no back-off"
    );
    assert!(
        cpu < wall / 4,
        "the server thread used {cpu:?} of CPU in {wall:?} while it could not accept"
    );

    // Descriptors free again: the waiting client is accepted and upgraded.
    drop(fillers);
    set_nofile_limit(saved);
    let head = read_head(&mut waiting);
    assert!(head.starts_with("HTTP/1.1 101"), "got {head:?}");
}
