//! The custom test runner of the process crate's test binaries (`harness = false`: their
//! `main` must be able to run as a spawned child first): each test runs in turn under a
//! watchdog, with libtest's filter and output lines.

use std::time::Duration;

/// Runs the `tests` whose name contains the first non-flag argument (all without one),
/// each under a watchdog of `limit`; exits 1 if any failed, 2 if one blocked.
pub fn run(tests: &[(&'static str, fn())], limit: Duration) {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let mut failed = Vec::new();
    let mut ran = 0;
    for &(name, test) in tests {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        ran += 1;
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let watch = std::thread::spawn(move || {
            if rx.recv_timeout(limit) == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                eprintln!("watchdog: {name} blocked for {limit:?}");
                std::process::exit(2);
            }
        });
        let outcome = std::panic::catch_unwind(test);
        let _ = tx.send(());
        let _ = watch.join();
        match outcome {
            Ok(()) => println!("test {name} ... ok"),
            Err(_) => {
                println!("test {name} ... FAILED");
                failed.push(name);
            }
        }
    }
    println!(
        "\ntest result: {}. {} passed; {} failed",
        if failed.is_empty() { "ok" } else { "FAILED" },
        ran - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        std::process::exit(1);
    }
}
