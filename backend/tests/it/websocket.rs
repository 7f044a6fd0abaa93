//! Protocol 2 of the WebSocket (`/ws?v=2`) against real `layercast serve` processes in
//! embedded mode, fed through the inbox: numbered frames, resume after a disconnection and
//! after a restart, snapshots flagged with their cause, subscriptions, a client that stops
//! reading, a client that goes silent.

use std::collections::BTreeSet;
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use layercast_shared::v2::{ClientMsg, Frame, Kind, ServerMsg, SnapshotCause};
use layercast_shared::OsiLayer;
use tungstenite::{Message, WebSocket};

use crate::support::{http_get, rss_bytes, wait_for, Node};

/// Windows close a second or two after their end, by event time or by idleness, so that a test
/// sees final values within seconds.
const FAST_WINDOWS: &str =
    "[windows]\nout_of_order_secs = 1\ngrace_secs = 1\nidle_timeout_secs = 2\n";
/// Event time of a test's first file: an hour ago, on a minute, so that the windows are
/// within the default retention (a restarted node deletes older rows).
fn t0() -> i64 {
    (chrono::Utc::now().timestamp_millis() - 3_600_000).div_euclid(60_000) * 60_000
}
/// How long a test waits for updates of a file it dropped.
const UPDATES_WITHIN: Duration = Duration::from_secs(60);
/// The same for the 72,000-record files of the slow-client test, which a debug build on two
/// busy cores takes up to a minute to turn into final windows.
const FLOOD_WITHIN: Duration = Duration::from_secs(180);

fn ws_handshake(port: u16) -> WebSocket<TcpStream> {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the node");
    let (socket, _) = tungstenite::client::client(format!("ws://127.0.0.1:{port}/ws?v=2"), stream)
        .expect("websocket handshake");
    socket
}

fn send(socket: &mut WebSocket<TcpStream>, msg: &ClientMsg) {
    let text = serde_json::to_string(msg).expect("encode");
    socket.send(Message::text(text)).expect("send");
}

fn subscribe_all() -> ClientMsg {
    ClientMsg::Subscribe {
        layers: vec![],
        entities: None,
        kinds: vec![],
        final_only: false,
    }
}

/// A protocol-2 client whose frames a thread of its own reads (answering the server's pings
/// as it reads) into a list with their arrival time, until it is dropped or closed.
struct Client {
    frames: Arc<Mutex<Vec<(Instant, Frame)>>>,
    outbox: Arc<Mutex<Vec<ClientMsg>>>,
    stop: Arc<AtomicBool>,
    closed: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Client {
    fn connect(port: u16, first: &[ClientMsg]) -> Client {
        let mut socket = ws_handshake(port);
        for msg in first {
            send(&mut socket, msg);
        }
        socket
            .get_ref()
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("read timeout");
        let frames: Arc<Mutex<Vec<(Instant, Frame)>>> = Arc::default();
        let outbox: Arc<Mutex<Vec<ClientMsg>>> = Arc::default();
        let stop: Arc<AtomicBool> = Arc::default();
        let closed: Arc<AtomicBool> = Arc::default();
        let mut client = Client {
            frames: frames.clone(),
            outbox: outbox.clone(),
            stop: stop.clone(),
            closed: closed.clone(),
            thread: None,
        };
        let thread = std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for msg in outbox.lock().expect("outbox").drain(..) {
                    send(&mut socket, &msg);
                }
                match socket.read() {
                    Ok(Message::Text(text)) => {
                        let frame: Frame = serde_json::from_str(&text)
                            .unwrap_or_else(|e| panic!("not a frame: {text}: {e}"));
                        frames.lock().expect("frames").push((Instant::now(), frame));
                    }
                    Ok(_) => {}
                    Err(tungstenite::Error::Io(e))
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => {
                        closed.store(true, Ordering::Relaxed);
                        return;
                    }
                }
            }
            let _ = socket.close(None);
            let _ = socket.flush();
        });
        client.thread = Some(thread);
        client
    }

    fn send(&self, msg: ClientMsg) {
        self.outbox.lock().expect("outbox").push(msg);
    }

    fn frames(&self) -> Vec<Frame> {
        self.frames
            .lock()
            .expect("frames")
            .iter()
            .map(|(_, f)| f.clone())
            .collect()
    }

    fn timed_frames(&self) -> Vec<(Instant, Frame)> {
        self.frames.lock().expect("frames").clone()
    }

    /// Waits for a frame that `pick` takes, and gives what it made of it.
    fn wait_for<T>(&self, what: &str, deadline: Duration, pick: impl Fn(&Frame) -> Option<T>) -> T {
        wait_for(what, deadline, || self.frames().iter().find_map(&pick))
    }

    /// The epoch and the highest seq received.
    fn position(&self) -> (u64, u64) {
        let frames = self.frames();
        let last = frames.last().expect("a frame");
        (last.epoch, frames.iter().map(|f| f.seq).max().unwrap_or(0))
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn is_update(frame: &Frame) -> bool {
    matches!(
        frame.msg,
        ServerMsg::Layer { .. } | ServerMsg::Series { .. } | ServerMsg::Anomaly { .. }
    )
}

fn update_seqs(frames: &[Frame]) -> Vec<u64> {
    frames
        .iter()
        .filter(|f| is_update(f))
        .map(|f| f.seq)
        .collect()
}

fn series_entity(frame: &Frame) -> Option<&str> {
    match &frame.msg {
        ServerMsg::Series { window } => Some(&window.entity),
        _ => None,
    }
}

/// Drops an NDJSON file into a node's inbox: `entities` entities named `{prefix}-{i}` on
/// `layer`, each with one record in each of `windows` 10-s windows from `t0`.
fn drop_file(
    dir: &Path,
    node: &str,
    prefix: &str,
    layer: &str,
    entities: usize,
    windows: i64,
    t0: i64,
) {
    let mut lines = String::new();
    for w in 0..windows {
        for i in 0..entities {
            let ts = t0 + w * 10_000 + (i as i64 % 9_000);
            lines.push_str(&format!(
                "{{\"ts\":{ts},\"layer\":\"{layer}\",\"entity\":\"{prefix}-{i}\",\"bytes\":{}}}\n",
                100 + i
            ));
        }
    }
    let inbox = dir.join(node).join("inbox");
    std::fs::create_dir_all(&inbox).expect("inbox");
    let name = format!("{prefix}-{layer}-{t0}");
    let tmp = inbox.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, lines).expect("write");
    std::fs::rename(&tmp, inbox.join(format!("{name}.ndjson"))).expect("rename");
}

/// The p99 of the delays from a final series window's close to its arrival, ms.
fn p99_close_to_arrival(frames: &[(Instant, Frame)]) -> i64 {
    let now = Instant::now();
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut delays: Vec<i64> = frames
        .iter()
        .filter_map(|(at, f)| match &f.msg {
            ServerMsg::Series { window } if window.is_final => {
                let arrived_ms = now_ms - now.duration_since(*at).as_millis() as i64;
                window.closed_at_ms.map(|c| arrived_ms - c)
            }
            _ => None,
        })
        .collect();
    assert!(!delays.is_empty(), "final windows arrived");
    delays.sort_unstable();
    delays[(delays.len() * 99 / 100).min(delays.len() - 1)]
}

/// A value of `/metrics` (an unlabelled gauge or counter).
fn metric(port: u16, name: &str) -> Option<f64> {
    let (_, body) = http_get(port, "/metrics")?;
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn frames_are_numbered_and_a_resume_gets_exactly_what_was_missed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let t0 = t0();
    let node = Node::start("ws-resume", FAST_WINDOWS, dir.path());
    node.wait_healthy();

    // A witness that stays connected the whole time, and a client that will go away.
    let witness = Client::connect(node.port, &[subscribe_all(), ClientMsg::Resync]);
    let leaver = Client::connect(node.port, &[subscribe_all(), ClientMsg::Resync]);
    for c in [&witness, &leaver] {
        c.wait_for("the initial snapshot", Duration::from_secs(10), |f| {
            matches!(
                f.msg,
                ServerMsg::Snapshot {
                    cause: SnapshotCause::Initial,
                    ..
                }
            )
            .then_some(())
        });
    }
    drop_file(dir.path(), "ws-resume", "first", "L4", 20, 2, t0);
    leaver.wait_for("an update of the first file", UPDATES_WITHIN, |f| {
        series_entity(f)
            .filter(|e| e.starts_with("first-"))
            .map(|_| ())
    });
    let (epoch, last_seq) = leaver.position();
    drop(leaver);

    drop_file(dir.path(), "ws-resume", "second", "L7", 20, 2, t0 + 60_000);
    witness.wait_for(
        "a final window of the second file",
        UPDATES_WITHIN,
        |f| match &f.msg {
            ServerMsg::Series { window }
                if window.entity.starts_with("second-") && window.is_final =>
            {
                Some(())
            }
            _ => None,
        },
    );

    let back = Client::connect(
        node.port,
        &[subscribe_all(), ClientMsg::Resume { epoch, last_seq }],
    );
    let missed = back.wait_for("resumed", Duration::from_secs(10), |f| match f.msg {
        ServerMsg::Resumed { missed } => Some(missed),
        _ => None,
    });
    assert!(missed > 0, "updates happened while it was away");
    let got = wait_for("the missed updates", Duration::from_secs(10), || {
        let frames = back.frames();
        let start = frames
            .iter()
            .position(|f| matches!(f.msg, ServerMsg::Resumed { .. }))?;
        let after: Vec<Frame> = frames[start + 1..].to_vec();
        (after.len() as u64 >= missed).then_some(after)
    });
    let resent: Vec<u64> = update_seqs(&got[..missed as usize]);
    let through = *resent.last().expect("missed updates");

    // What the witness received after `last_seq`, through the last one resent: the same.
    let witness_frames = witness.frames();
    let seen: Vec<u64> = update_seqs(&witness_frames)
        .into_iter()
        .filter(|s| *s > last_seq && *s <= through)
        .collect();
    assert_eq!(resent, seen, "exactly the updates missed, in order");
    assert!(
        got[..missed as usize].iter().all(|f| f.epoch == epoch),
        "same process"
    );

    // Numbers only grow on every connection: updates strictly, and from the snapshot or
    // `resumed` on no frame goes back (before it, frames say where the node is).
    for frames in [witness_frames, back.frames()] {
        let updates = update_seqs(&frames);
        assert!(
            updates.windows(2).all(|w| w[0] < w[1]),
            "update numbers increase: {updates:?}"
        );
        let synced = frames
            .iter()
            .position(|f| {
                matches!(
                    f.msg,
                    ServerMsg::Snapshot { .. } | ServerMsg::Resumed { .. }
                )
            })
            .expect("a sync frame");
        let all: Vec<u64> = frames[synced..].iter().map(|f| f.seq).collect();
        assert!(all.windows(2).all(|w| w[0] <= w[1]), "{all:?}");
    }
}

#[test]
fn a_resume_after_a_restart_or_too_far_behind_gets_a_flagged_snapshot() {
    let dir = tempfile::tempdir().expect("temp dir");
    let t0 = t0();
    // A ring of 8 updates: a client that misses more gets a snapshot.
    let config = format!("{FAST_WINDOWS}[live]\nring_updates = 8\n");
    let mut node = Node::start("ws-restart", &config, dir.path());
    node.wait_healthy();
    let client = Client::connect(node.port, &[subscribe_all(), ClientMsg::Resync]);
    drop_file(dir.path(), "ws-restart", "first", "L3", 5, 1, t0);
    client.wait_for("the first file's final layer window", UPDATES_WITHIN, |f| {
        matches!(&f.msg, ServerMsg::Layer { window } if window.is_final).then_some(())
    });
    let (epoch, last_seq) = client.position();
    drop(client);

    // Too far behind: more than 8 updates while away.
    let witness = Client::connect(node.port, &[subscribe_all(), ClientMsg::Resync]);
    drop_file(dir.path(), "ws-restart", "second", "L3", 30, 1, t0 + 60_000);
    // The snapshot shows the newest stored windows: the second file's, once final.
    let totals = witness.wait_for(
        "the second file's final layer window",
        UPDATES_WITHIN,
        |f| match &f.msg {
            ServerMsg::Layer { window } if window.is_final && window.start_ms == t0 + 60_000 => {
                Some((window.layer, window.start_ms, window.events))
            }
            _ => None,
        },
    );
    wait_for("more updates than the ring keeps", UPDATES_WITHIN, || {
        let updates = update_seqs(&witness.frames());
        (updates.iter().filter(|s| **s > last_seq).count() > 8).then_some(())
    });
    let late = Client::connect(
        node.port,
        &[subscribe_all(), ClientMsg::Resume { epoch, last_seq }],
    );
    late.wait_for(
        "a snapshot flagged too_far_behind",
        Duration::from_secs(10),
        |f| {
            matches!(
                f.msg,
                ServerMsg::Snapshot {
                    cause: SnapshotCause::TooFarBehind,
                    ..
                }
            )
            .then_some(())
        },
    );
    let (epoch, last_seq) = late.position();
    drop((late, witness));

    // A new process: a new epoch, and a snapshot that says so, with the stored totals.
    node.proc.kill();
    let node = Node::start("ws-restart", &config, dir.path());
    node.wait_healthy();
    let back = Client::connect(
        node.port,
        &[subscribe_all(), ClientMsg::Resume { epoch, last_seq }],
    );
    let (new_epoch, windows) =
        back.wait_for("a snapshot", Duration::from_secs(10), |f| match &f.msg {
            ServerMsg::Snapshot { cause, windows } => Some((f.epoch, (*cause, windows.clone()))),
            _ => None,
        });
    assert_ne!(new_epoch, epoch, "a restarted process has another epoch");
    assert_eq!(windows.0, SnapshotCause::EpochChanged);
    assert!(
        windows
            .1
            .iter()
            .any(|w| (w.layer, w.start_ms, w.events) == totals),
        "the snapshot holds the stored window {totals:?}: {:?}",
        windows.1
    );
}

#[test]
fn subscriptions_filter_by_layer_entity_kind_and_final_only_and_unsubscribe_stops_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let t0 = t0();
    let node = Node::start("ws-filters", FAST_WINDOWS, dir.path());
    node.wait_healthy();
    let picky = Client::connect(
        node.port,
        &[
            ClientMsg::Subscribe {
                layers: vec![OsiLayer::L4],
                entities: Some("keep-*".into()),
                kinds: vec![Kind::Windows],
                final_only: true,
            },
            ClientMsg::Resync,
        ],
    );
    let finals = Client::connect(
        node.port,
        &[
            ClientMsg::Subscribe {
                layers: vec![],
                entities: None,
                kinds: vec![Kind::Layers],
                final_only: true,
            },
            ClientMsg::Resync,
        ],
    );
    let quitter = Client::connect(node.port, &[subscribe_all(), ClientMsg::Resync]);
    let all = Client::connect(node.port, &[subscribe_all(), ClientMsg::Resync]);

    for (prefix, layer) in [("keep", "L4"), ("skip", "L4"), ("keep", "L7")] {
        drop_file(dir.path(), "ws-filters", prefix, layer, 5, 2, t0);
    }
    picky.wait_for("a final L4 window of keep-*", UPDATES_WITHIN, |f| {
        series_entity(f).map(|_| ())
    });
    finals.wait_for("a final layer window", UPDATES_WITHIN, |f| {
        matches!(&f.msg, ServerMsg::Layer { .. }).then_some(())
    });
    all.wait_for(
        "a final L7 window of keep-*",
        UPDATES_WITHIN,
        |f| match &f.msg {
            ServerMsg::Series { window } if window.layer == OsiLayer::L7 && window.is_final => {
                Some(())
            }
            _ => None,
        },
    );
    quitter.wait_for("any update", UPDATES_WITHIN, |f| is_update(f).then_some(()));

    let kinds_seen: BTreeSet<&str> = all
        .frames()
        .iter()
        .filter_map(|f| match &f.msg {
            ServerMsg::Layer { .. } => Some("layer"),
            ServerMsg::Series { .. } => Some("series"),
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds_seen,
        ["layer", "series"].into(),
        "the unfiltered client gets both"
    );
    for f in picky.frames().iter().filter(|f| is_update(f)) {
        match &f.msg {
            ServerMsg::Series { window } => assert!(
                window.layer == OsiLayer::L4
                    && window.entity.starts_with("keep-")
                    && window.is_final,
                "outside the subscription: {window:?}"
            ),
            other => panic!("a kind not subscribed: {other:?}"),
        }
    }
    for f in finals.frames().iter().filter(|f| is_update(f)) {
        assert!(
            matches!(&f.msg, ServerMsg::Layer { window } if window.is_final),
            "only final layer windows: {f:?}"
        );
    }

    // Unsubscribe: the acknowledgement, then nothing, while the others get a new file's updates.
    quitter.send(ClientMsg::Unsubscribe { kinds: vec![] });
    let ack = quitter.wait_for(
        "the unsubscribe acknowledged",
        Duration::from_secs(10),
        |f| match &f.msg {
            ServerMsg::Subscribed { subscription } if subscription.kinds.is_empty() => Some(f.seq),
            _ => None,
        },
    );
    let before = all.frames().len();
    drop_file(dir.path(), "ws-filters", "later", "L2", 5, 1, t0 + 120_000);
    all.wait_for("the later file's updates", UPDATES_WITHIN, |f| {
        series_entity(f)
            .filter(|e| e.starts_with("later-"))
            .map(|_| ())
    });
    assert!(all.frames().len() > before);
    // A second acknowledgement goes through the same queue: whatever was queued before it
    // has arrived when it does.
    quitter.send(ClientMsg::Unsubscribe { kinds: vec![] });
    wait_for(
        "the second acknowledgement",
        Duration::from_secs(10),
        || {
            (quitter
                .frames()
                .iter()
                .filter(|f| matches!(f.msg, ServerMsg::Subscribed { .. }))
                .count()
                >= 2)
                .then_some(())
        },
    );
    let frames = quitter.frames();
    let after_ack = frames
        .iter()
        .skip_while(|f| !matches!(&f.msg, ServerMsg::Subscribed { .. }) || f.seq != ack)
        .filter(|f| is_update(f))
        .count();
    assert_eq!(after_ack, 0, "no update after unsubscribing");
}

#[test]
fn a_client_that_stops_reading_is_cut_without_growing_memory_or_holding_others_up() {
    let dir = tempfile::tempdir().expect("temp dir");
    let t0 = t0();
    // A queue bound of 1 MiB for the test; the default is 8 MiB (docs/websocket.md).
    const BOUND: u64 = 1024 * 1024;
    let config = format!("{FAST_WINDOWS}[live]\nclient_queue_bytes = {BOUND}\n");
    let node = Node::start("ws-slow", &config, dir.path());
    node.wait_healthy();
    let pid = node.proc.child.id();
    let fast = Client::connect(node.port, &[subscribe_all(), ClientMsg::Resync]);

    // Warm up: the same load once without the slow client, so that the node's own working
    // set (windows, database) is there before the baseline is taken.
    const ENTITIES: usize = 12_000;
    const WINDOWS: i64 = 6;
    drop_file(dir.path(), "ws-slow", "load", "L4", ENTITIES, WINDOWS, t0);
    fast.wait_for(
        "the warm-up's last window final",
        FLOOD_WITHIN,
        |f| match &f.msg {
            ServerMsg::Series { window }
                if window.is_final
                    && window.entity.starts_with("load-")
                    && window.start_ms == t0 + (WINDOWS - 1) * 10_000 =>
            {
                Some(())
            }
            _ => None,
        },
    );
    let baseline = rss_bytes(pid).expect("rss");

    // The slow client: subscribes to everything, then never reads again.
    let mut slow = ws_handshake(node.port);
    send(&mut slow, &subscribe_all());
    send(&mut slow, &ClientMsg::Resync);
    let received_before = fast.frames().len();
    let flood_started = Instant::now();
    drop_file(
        dir.path(),
        "ws-slow",
        "load",
        "L4",
        ENTITIES,
        WINDOWS,
        t0 + 600_000,
    );
    let mut peak = baseline;
    wait_for(
        "the slow client to be cut",
        Duration::from_secs(120),
        || {
            peak = peak.max(rss_bytes(pid).unwrap_or(0));
            (metric(node.port, "layercast_ws_slow_clients_cut_total")? >= 1.0).then_some(())
        },
    );
    fast.wait_for(
        "the flood's last window final",
        FLOOD_WITHIN,
        |f| match &f.msg {
            ServerMsg::Series { window }
                if window.is_final
                    && window.entity.starts_with("load-")
                    && window.start_ms == t0 + 600_000 + (WINDOWS - 1) * 10_000 =>
            {
                Some(())
            }
            _ => None,
        },
    );
    peak = peak.max(rss_bytes(pid).unwrap_or(0));
    let growth = peak.saturating_sub(baseline);
    eprintln!(
        "RSS baseline {} MiB, peak {} MiB during the flood ({:.1} s)",
        baseline >> 20,
        peak >> 20,
        flood_started.elapsed().as_secs_f64()
    );
    // The bound, plus what the second run of the same load may add to the first one.
    let slack = 48 * 1024 * 1024;
    assert!(
        growth < BOUND + slack,
        "RSS grew by {} MiB with a client that does not read",
        growth >> 20
    );

    // The other client kept its latency: from a window's close to its arrival, the flood
    // next to a client that reads nothing is no slower than the same load without it. Both
    // are mostly the node's own lag on this load (seconds in a debug build on two cores), so
    // the margin is wide; a client that held the hub up would add the whole flood's time.
    let timed = fast.timed_frames();
    let warm_p99 = p99_close_to_arrival(&timed[..received_before]);
    let flood_p99 = p99_close_to_arrival(&timed[received_before..]);
    eprintln!(
        "the other client, p99 from close to arrival: {warm_p99} ms alone, {flood_p99} ms next to the slow client"
    );
    assert!(
        flood_p99 <= 2 * warm_p99 + 1_000,
        "the other client was held up: p99 {flood_p99} ms against {warm_p99} ms"
    );
    assert!(
        !fast.closed.load(Ordering::Relaxed),
        "the other client is still connected"
    );

    // The slow client's connection is closed: reading what is left ends in a close or an error.
    slow.get_ref()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut too_slow = false;
    let ended = loop {
        match slow.read() {
            Ok(Message::Text(text)) => too_slow |= text.contains(r#""type":"too_slow""#),
            Ok(Message::Close(_)) => break true,
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                break false
            }
            Err(_) => break true,
        }
    };
    assert!(ended, "the slow client's connection is closed");
    eprintln!("the slow client read too_slow before the end: {too_slow}");
}

#[test]
fn a_client_that_stops_answering_pings_is_dropped_within_30_s() {
    let dir = tempfile::tempdir().expect("temp dir");
    let node = Node::start("ws-dead", "", dir.path());
    node.wait_healthy();
    // One that answers (its reading thread answers the pings), one that goes silent.
    let alive = Client::connect(node.port, &[ClientMsg::Resync]);
    let mut silent = ws_handshake(node.port);
    send(&mut silent, &ClientMsg::Resync);
    let silent_since = Instant::now();
    wait_for("both clients counted", Duration::from_secs(10), || {
        (metric(node.port, "layercast_ws_clients")? == 2.0).then_some(())
    });
    wait_for("the silent client dropped", Duration::from_secs(30), || {
        (metric(node.port, "layercast_ws_clients")? == 1.0).then_some(())
    });
    let took = silent_since.elapsed();
    eprintln!("dropped after {:.1} s", took.as_secs_f64());
    assert!(took < Duration::from_secs(30));
    assert!(took >= Duration::from_secs(20), "not before its timeout");
    assert_eq!(
        metric(node.port, "layercast_ws_dead_clients_dropped_total"),
        Some(1.0)
    );
    assert!(
        !alive.closed.load(Ordering::Relaxed),
        "the one that answers stays"
    );
    drop(silent);
}
