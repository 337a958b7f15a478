//! Every fuzz target's seeds, committed corpus and past crashes, replayed through its driver
//! on every test run: a fix that regresses fails here, without a fuzzer.
//!
//! `fuzz/corpus/<target>/` is the minimised corpus `scripts/fuzz.sh` grows;
//! `fuzz/regressions/<target>/` holds each input a fuzzer found breaking an invariant (see
//! the note in its file name and `CHANGELOG.md`). `WSREACTOR_WRITE_SEEDS=1` writes the
//! drivers' seeds into the corpus directories (once, when a seed is added).

use std::fs;
use std::path::Path;

use wsreactor::fuzz;

/// A target: its name in `fuzz/`, its driver and its seeds.
type Target = (&'static str, fn(&[u8]), fn() -> Vec<Vec<u8>>);

const TARGETS: &[Target] = &[
    ("http_request", fuzz::request::run, fuzz::request::seeds),
    ("connection", fuzz::connection::run, fuzz::connection::seeds),
    ("frames", fuzz::frames::run, fuzz::frames::seeds),
    (
        "eio_packets",
        fuzz::eio_packets::run,
        fuzz::eio_packets::seeds,
    ),
    (
        "sio_packets",
        fuzz::sio_packets::run,
        fuzz::sio_packets::seeds,
    ),
    ("engine", fuzz::engine::run, fuzz::engine::seeds),
];

/// Runs the driver on every file in `dir`; how many there were.
fn replay(dir: &Path, run: fn(&[u8])) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut count = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        // A fuzzer running meanwhile replaces inputs with shorter ones: a file gone is one
        // it found a better input for.
        let Ok(input) = fs::read(&path) else {
            continue;
        };
        eprintln!("{}", path.display());
        run(&input);
        count += 1;
    }
    count
}

#[test]
fn seeds_pass_every_driver() {
    let write = std::env::var_os("WSREACTOR_WRITE_SEEDS").is_some();
    for (name, run, seeds) in TARGETS {
        let dir = Path::new("fuzz/corpus").join(name);
        for (i, seed) in seeds().iter().enumerate() {
            run(seed);
            if write {
                fs::create_dir_all(&dir).unwrap();
                fs::write(dir.join(format!("seed-{i:02}")), seed).unwrap();
            }
        }
    }
}

#[test]
fn the_committed_corpus_passes_every_driver() {
    for (name, run, seeds) in TARGETS {
        let found = replay(&Path::new("fuzz/corpus").join(name), *run);
        // The seeds at least: a corpus that went missing would make this test vacuous.
        assert!(found >= seeds().len(), "{name}: {found} corpus inputs");
    }
}

#[test]
fn inputs_that_once_broke_a_driver_pass() {
    for (name, run, _) in TARGETS {
        replay(&Path::new("fuzz/regressions").join(name), *run);
    }
}
