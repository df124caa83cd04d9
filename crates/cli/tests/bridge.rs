//! `shmkit bridge`, run as two real processes over loopback: `export` of a local message
//! queue and `import` into another, with Zenoh in between. Without the `zenoh` feature,
//! the subcommand says how to get it.
#![allow(missing_docs)]

use std::process::{Command, Stdio};

#[cfg(not(feature = "zenoh"))]
#[test]
fn bridge_without_the_feature_says_how_to_get_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_shmkit"))
        .args(["bridge", "export", "jobs", "shmkit/jobs"])
        .stdout(Stdio::null())
        .output()
        .expect("run shmkit");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--features zenoh"));
}

#[cfg(feature = "zenoh")]
#[test]
fn bridge_export_and_import_carry_a_queue_across_processes() {
    use std::io::{BufRead, BufReader};
    use std::time::Duration;

    use shmkit_mq::MessageQueue;

    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    struct Names(Vec<String>);
    impl Drop for Names {
        fn drop(&mut self) {
            for n in &self.0 {
                let _ = shmkit_core::segment::unlink(n);
            }
        }
    }
    let tag = format!("test-cli-bridge-{}", std::process::id());
    let (src, dst) = (format!("{tag}-src"), format!("{tag}-dst"));
    let _names = Names(vec![src.clone(), dst.clone(), format!("{src}.zexport"), format!("{dst}.zimport")]);
    let port = |_: ()| std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (pi, pe) = (port(()), port(()));
    let key = format!("shmkit-test/{tag}");
    let source = MessageQueue::create(&src, 100).unwrap();
    let spawn = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_shmkit"))
            .arg("bridge")
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("run shmkit bridge");
        let mut first = String::new();
        BufReader::new(c.stdout.as_mut().unwrap()).read_line(&mut first).unwrap();
        (Kill(c), first)
    };
    let (_import, line) =
        spawn(&["import", &key, &dst, "--create", "1000", "--listen", &format!("tcp/127.0.0.1:{pi}")]);
    assert!(line.starts_with("importing"), "{line}");
    let target = MessageQueue::open(&dst).unwrap();
    let (_export, line) = spawn(&[
        "export",
        &src,
        &key,
        "--listen",
        &format!("tcp/127.0.0.1:{pe}"),
        "--connect",
        &format!("tcp/127.0.0.1:{pi}"),
    ]);
    assert!(line.contains("lost at most 0 messages"), "{line}");
    for i in 0u32..100 {
        source.put_bytes(format!("message {i}").as_bytes()).unwrap();
    }
    for i in 0u32..100 {
        let m =
            target.get_bytes_timeout(Duration::from_secs(60)).expect("watchdog: a message within a minute");
        assert_eq!(m, format!("message {i}").as_bytes());
    }

    // `bridge stats` reads each side's counters from another process.
    let stats = |state: &str| {
        let out =
            Command::new(env!("CARGO_BIN_EXE_shmkit")).args(["bridge", "stats", state]).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    // The counters move just after each message goes on: polled, with a watchdog.
    let shows = |state: String, kind: &str, count: &str| {
        let end = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let (code, text) = stats(&state);
            assert_eq!(code, Some(0), "{text}");
            assert!(text.contains(kind), "{text}");
            if text.contains(count) {
                return;
            }
            assert!(std::time::Instant::now() < end, "watchdog: {state} never showed {count:?}: {text}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    shows(format!("{src}.zexport"), "an exporter's state", "  published: 100\n");
    shows(format!("{dst}.zimport"), "an importer's state", "  put: 100\n");
    assert_eq!(stats(&src).0, Some(1), "a message queue is no bridge's state");
}
