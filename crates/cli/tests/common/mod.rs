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
