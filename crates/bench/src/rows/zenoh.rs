//! The Zenoh bridge (issue #21), with the `zenoh` feature: end to end across the loopback
//! bridge — producer → local MessageQueue → exporter → Zenoh → importer → local
//! MessageQueue → consumer — beside Zenoh pub/sub alone (same payload, same loopback TCP
//! endpoints, peer mode, multicast scouting off) and the local MessageQueue alone, in the
//! same run. Every row's name starts with `zenoh: ` (`-- zenoh` selects them all).
//!
//! - 64 B round trip, p50, two processes: the bridge path both ways (each process runs
//!   an exporter and an importer thread beside its own side of the ping-pong).
//! - 1 KiB one-way, messages per second, two processes.
//!
//! Each side opens its Zenoh session in its own forked process, after the fork: the
//! benchmark process itself never starts Zenoh's runtime, whose threads a later fork would
//! not carry.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use shmkit_core::{Segment, WaitStrategy};
use shmkit_mq::MessageQueue;
use shmkit_zenoh::{
    export, import, ExportOptions, Exporter, ImportOptions, Importer, Session, SessionConfig,
};
use zenoh::handlers::FifoChannelHandler;
use zenoh::pubsub::{Publisher, Subscriber};
use zenoh::qos::CongestionControl;
use zenoh::sample::Sample;
use zenoh::Wait;

use crate::harness::{fail, one_way, rate, round_trip_bytes, Bench, Echo};

const RT_ZENOH: &str = "zenoh: Zenoh pub/sub alone 64 B round trip (loopback TCP)";
const RT_LOCAL: &str = "zenoh: local MessageQueue alone 64 B round trip (parked)";
const OW_ZENOH: &str = "zenoh: Zenoh pub/sub alone 1 KiB one-way (loopback TCP)";
const OW_LOCAL: &str = "zenoh: local MessageQueue alone 1 KiB one-way";

pub(super) fn rows(b: &mut Bench) {
    b.add(RT_LOCAL, &[], |tm| {
        let (x, y) = (MessageQueue::anonymous(64).unwrap(), MessageQueue::anonymous(64).unwrap());
        let (x2, y2) = (x.try_clone().unwrap(), y.try_clone().unwrap());
        round_trip_bytes(Local { tx: x, rx: y }, Local { tx: y2, rx: x2 }, 64, tm)
    });
    b.add(RT_ZENOH, &[], |tm| {
        let ep = free_endpoint();
        round_trip_bytes(Plain::new(&ep, false), Plain::new(&ep, true), 64, tm)
    });
    b.add(
        "zenoh: bridge 64 B round trip (MQ → export → Zenoh → import → MQ, both ways)",
        &[RT_ZENOH, RT_LOCAL],
        |tm| {
            let ep = free_endpoint();
            round_trip_bytes(Bridged::new(&ep, false), Bridged::new(&ep, true), 64, tm)
        },
    );
    b.add(OW_LOCAL, &[], |tm| {
        let q = MessageQueue::anonymous(1024).unwrap();
        let w = q.try_clone().unwrap();
        let mut buf = vec![0u8; 1024];
        rate(one_way(
            tm,
            move || while w.put_bytes(&[0x5A; 1024]).is_ok() {},
            || {
                q.get_bytes_into(&mut buf).unwrap();
                1
            },
            || q.close(),
        ))
    });
    b.add(OW_ZENOH, &[], |tm| {
        let ep = free_endpoint();
        let stop = StopFlag::new();
        let mut sub: Option<Plain> = None;
        rate(one_way(
            tm,
            || {
                let mut p = Plain::new(&ep, true);
                p.live();
                while !stop.is_set() {
                    p.publish(&[0x5A; 1024]);
                }
            },
            || {
                let s = sub.get_or_insert_with(|| Plain::new(&ep, false));
                s.take();
                1
            },
            || stop.set(),
        ))
    });
    b.add(
        "zenoh: bridge 1 KiB one-way (MQ → export → Zenoh → import → MQ)",
        &[OW_ZENOH, OW_LOCAL],
        |tm| {
            let ep = free_endpoint();
            let stop = StopFlag::new();
            let mut sink: Option<(Session, Importer, MessageQueue)> = None;
            let mut buf = vec![0u8; 1024];
            rate(one_way(
                tm,
                || {
                    let s = session(&ep, true);
                    let q = parked(MessageQueue::anonymous(1024).unwrap());
                    let _ex = export(&s, parked(q.try_clone().unwrap()), "bench/ow", &ExportOptions::new())
                        .unwrap();
                    while !stop.is_set() {
                        let _ = q.put_bytes_timeout(&[0x5A; 1024], Duration::from_millis(50));
                    }
                },
                || {
                    let (_, _, q) = sink.get_or_insert_with(|| {
                        let s = session(&ep, false);
                        let q = parked(MessageQueue::anonymous(1024).unwrap());
                        let im =
                            import(&s, "bench/ow", parked(q.try_clone().unwrap()), &ImportOptions::new())
                                .unwrap();
                        (s, im, q)
                    });
                    q.get_bytes_into(&mut buf).unwrap();
                    1
                },
                || stop.set(),
            ))
        },
    );
}

/// `q`, waiting without spinning: each process of a bridge row runs on one core, with
/// Zenoh's threads and the bridge's beside the row's own, so a spinning wait only takes
/// the core from the thread it waits for (Zenoh's own receive parks the same way).
fn parked(mut q: MessageQueue) -> MessageQueue {
    q.set_wait_strategy(WaitStrategy::Park);
    q
}

/// A loopback endpoint on a port free a moment ago: the child listens, the parent
/// connects.
fn free_endpoint() -> String {
    let l =
        std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| fail(format!("no loopback port: {e}")));
    format!("tcp/127.0.0.1:{}", l.local_addr().map(|a| a.port()).unwrap_or(0))
}

fn config(ep: &str, listen: bool) -> SessionConfig {
    let cfg = SessionConfig::peer().multicast_scouting(false);
    if listen {
        cfg.listen(ep)
    } else {
        cfg.connect(ep)
    }
}

fn session(ep: &str, listen: bool) -> Session {
    Session::open(&config(ep, listen)).unwrap_or_else(|e| fail(e.to_string()))
}

/// A word both processes of a row share: set when the measuring is over.
struct StopFlag(Segment);

impl StopFlag {
    fn new() -> Self {
        Self(Segment::anonymous(4096).unwrap_or_else(|e| fail(format!("no page for the flag: {e}"))))
    }

    fn word(&self) -> &AtomicU32 {
        // SAFETY: the page is mapped, zeroed and page-aligned while `self` lives, in this
        // process and in the forked ones that inherit it; it is only used as this atomic.
        unsafe { &*self.0.as_ptr().cast::<AtomicU32>() }
    }

    fn is_set(&self) -> bool {
        self.word().load(Ordering::Relaxed) != 0
    }

    fn set(&self) {
        self.word().store(1, Ordering::Relaxed);
    }
}

/// One side of a local MessageQueue ping-pong.
struct Local {
    tx: MessageQueue,
    rx: MessageQueue,
}

impl Echo for Local {
    fn send(&mut self, msg: &[u8]) {
        self.tx.put_bytes(msg).unwrap();
    }

    fn recv(&mut self, buf: &mut [u8]) {
        self.rx.get_bytes_into(buf).unwrap();
    }
}

/// One side of a plain Zenoh pub/sub ping-pong: the parent publishes on `bench/ping` and
/// subscribes to `bench/pong`, the child the other way round. Opened on first use, in the
/// process that uses it.
struct Plain {
    ep: String,
    child: bool,
    live: Option<(zenoh::Session, Publisher<'static>, Subscriber<FifoChannelHandler<Sample>>)>,
}

impl Plain {
    fn new(ep: &str, child: bool) -> Self {
        Self { ep: ep.to_owned(), child, live: None }
    }

    fn live(&mut self) -> &mut (zenoh::Session, Publisher<'static>, Subscriber<FifoChannelHandler<Sample>>) {
        let (ep, child) = (self.ep.clone(), self.child);
        self.live.get_or_insert_with(|| {
            let mut cfg = zenoh::Config::default();
            let listen_or_connect = if child { "listen/endpoints" } else { "connect/endpoints" };
            for (k, v) in [
                ("mode", "\"peer\"".to_owned()),
                (listen_or_connect, format!("[{ep:?}]")),
                ("scouting/multicast/enabled", "false".to_owned()),
            ] {
                cfg.insert_json5(k, &v).unwrap_or_else(|e| fail(e.to_string()));
            }
            let s = zenoh::open(cfg).wait().unwrap_or_else(|e| fail(e.to_string()));
            let (out, inn) = if child { ("bench/pong", "bench/ping") } else { ("bench/ping", "bench/pong") };
            let sub = s.declare_subscriber(inn).wait().unwrap_or_else(|e| fail(e.to_string()));
            let publisher = s
                .declare_publisher(out)
                .congestion_control(CongestionControl::Block)
                .wait()
                .unwrap_or_else(|e| fail(e.to_string()));
            // Publish only once the other side listens.
            while !publisher.matching_status().wait().map(|m| m.matching()).unwrap_or(false) {
                std::thread::sleep(Duration::from_millis(1));
            }
            (s, publisher, sub)
        })
    }

    fn publish(&mut self, msg: &[u8]) {
        self.live().1.put(msg.to_vec()).wait().unwrap_or_else(|e| fail(e.to_string()));
    }

    fn take(&mut self) -> Vec<u8> {
        let s = self.live().2.recv().unwrap_or_else(|e| fail(e.to_string()));
        s.payload().to_bytes().into_owned()
    }
}

impl Echo for Plain {
    fn send(&mut self, msg: &[u8]) {
        self.publish(msg);
    }

    fn recv(&mut self, buf: &mut [u8]) {
        let m = self.take();
        buf.copy_from_slice(&m[..buf.len()]);
    }
}

/// One side of a ping-pong through the bridge: this side puts into a local queue that
/// its exporter publishes, and gets from a local queue that its importer fills.
struct Bridged {
    ep: String,
    child: bool,
    #[allow(clippy::type_complexity)]
    live: Option<(Session, Exporter, Importer, MessageQueue, MessageQueue)>,
}

impl Bridged {
    fn new(ep: &str, child: bool) -> Self {
        Self { ep: ep.to_owned(), child, live: None }
    }

    fn live(&mut self) -> &mut (Session, Exporter, Importer, MessageQueue, MessageQueue) {
        let (ep, child) = (self.ep.clone(), self.child);
        self.live.get_or_insert_with(|| {
            let s = session(&ep, child);
            let (out, inn) = if child { ("bench/pong", "bench/ping") } else { ("bench/ping", "bench/pong") };
            let (tx, rx) =
                (parked(MessageQueue::anonymous(64).unwrap()), parked(MessageQueue::anonymous(64).unwrap()));
            let im = import(&s, inn, parked(rx.try_clone().unwrap()), &ImportOptions::new())
                .unwrap_or_else(|e| fail(e.to_string()));
            let ex = export(&s, parked(tx.try_clone().unwrap()), out, &ExportOptions::new())
                .unwrap_or_else(|e| fail(e.to_string()));
            (s, ex, im, tx, rx)
        })
    }
}

impl Drop for Bridged {
    /// Hands on what is still queued before the session goes: the exporter publishes the
    /// rest of the local queue (the parent's last message, the child's signal to stop,
    /// may still be there; a second at most), and closing the session then sends what
    /// Zenoh still holds.
    fn drop(&mut self) {
        if let Some((session, exporter, importer, tx, _rx)) = self.live.take() {
            tx.close();
            let deadline = std::time::Instant::now() + Duration::from_secs(1);
            while !tx.is_empty() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            // Stopping waits for a publish under way.
            let _ = exporter.stop();
            drop(importer);
            drop(session);
        }
    }
}

impl Echo for Bridged {
    fn send(&mut self, msg: &[u8]) {
        self.live().3.put_bytes(msg).unwrap();
    }

    fn recv(&mut self, buf: &mut [u8]) {
        self.live().4.get_bytes_into(buf).unwrap();
    }
}
