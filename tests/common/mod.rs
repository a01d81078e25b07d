//! Shared by the CLI's integration tests.
use std::io::BufRead;
use std::process::{Child, Command, Stdio};

/// Spawns `argus-usage ... serve` (`c` carries the arguments) and returns
/// the child and the address it printed it serves on.
pub fn spawn_server(mut c: Command) -> (Child, String) {
    let mut child = c.stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let l = lines.next().expect("serve printed its address").unwrap();
        if let Some(rest) = l.split("http://").nth(1) {
            break rest.trim_end_matches("/api/v1 (Ctrl-C to stop)").to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

/// The store of a test's server: `dir/file`, or a new PostgreSQL database
/// when the tests run against PostgreSQL (`argus_store::pg::test_store`).
#[allow(dead_code)] // used by some of the test binaries that share this module
pub fn server_store(dir: &std::path::Path, file: &str) -> std::path::PathBuf {
    argus_store::pg::test_store(dir, file).expect("the tests' PostgreSQL (ARGUS_TEST_PG) makes a database")
}

/// True when the tests run against PostgreSQL (`ARGUS_TEST_PG`): the few
/// that are about the SQLite file itself take another way.
#[allow(dead_code)]
pub fn on_postgres() -> bool {
    argus_store::pg::testing_on_postgres()
}

/// Sets a closed SQLite file's schema version (`PRAGMA user_version`, the
/// four big-endian bytes at offset 60 of the header), as a newer release of
/// the program would leave it. The store must be closed, its WAL folded in.
#[allow(dead_code)] // used by one of the test binaries that share this module
pub fn set_user_version(db: &std::path::Path, version: i64) {
    let wal = std::path::PathBuf::from(format!("{}-wal", db.display()));
    assert!(std::fs::metadata(&wal).map(|m| m.len() == 0).unwrap_or(true), "the store is closed, its WAL checkpointed");
    let mut bytes = std::fs::read(db).unwrap();
    bytes[60..64].copy_from_slice(&(version as u32).to_be_bytes());
    std::fs::write(db, bytes).unwrap();
}

/// When the tests run, as far as the binaries they start know.
pub const FAKE_NOW: &str = "2026-11-27T12:00:00Z";

/// Makes `c` run with its wall clock moved to [`FAKE_NOW`] (at the time this
/// test binary started; time then flows as usual), by preloading Debian's
/// libfaketime (package `faketime`, installed by scripts/setup.sh). The
/// binary under test has no clock override of its own: time is moved from
/// outside the process, so no test depends on today's date. Every process a
/// test binary starts shares one offset, so time never runs backwards from
/// one process to the next. Monotonic clocks (timeouts, sleeps) stay real.
pub fn at_fake_now(c: &mut Command) -> &mut Command {
    static OFFSET: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    let offset = *OFFSET.get_or_init(|| {
        let target = chrono::DateTime::parse_from_rfc3339(FAKE_NOW).unwrap().timestamp();
        target - chrono::Utc::now().timestamp()
    });
    c.env("LD_PRELOAD", libfaketime()).env("FAKETIME", format!("{offset:+}")).env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
}

fn libfaketime() -> std::path::PathBuf {
    let found = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|d| d.path().join("faketime/libfaketime.so.1"))
        .find(|p| p.exists());
    found.expect("libfaketime is installed (Debian package faketime; scripts/setup.sh installs it)")
}
