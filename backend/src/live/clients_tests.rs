//! Unit tests of the hub's protocol-2 state: resume, snapshots, coalescing, the bound.

use super::*;
use layercast_shared::v2::Frame;
use layercast_shared::{LayerWindow, OsiLayer};

/// A recipient that is never run: the tests read the queues directly.
struct Nobody;
impl Actor for Nobody {
    type Context = Context<Self>;
}
impl Handler<Wake> for Nobody {
    type Result = ();
    fn handle(&mut self, _: Wake, _: &mut Context<Self>) {}
}

fn window(start_ms: i64, events: u64) -> LayerWindow {
    LayerWindow {
        layer: OsiLayer::L3,
        start_ms,
        end_ms: start_ms + 10_000,
        events,
        bytes: events,
        packets: 0,
        connections: 0,
        requests: 0,
        errors: 0,
        error_rate: None,
        error_classes: Default::default(),
        latency: None,
        is_final: false,
    }
}

fn config(ring: usize, bound: usize) -> LiveConfig {
    LiveConfig {
        ring_updates: ring,
        client_queue_bytes: bound,
        ..LiveConfig::default()
    }
}

fn frames(shared: &ClientShared) -> Vec<Frame> {
    let mut q = shared.queue();
    let mut out = Vec::new();
    while let Some(item) = q.pop() {
        let text = match item {
            Queued::Update(u) => u.text.clone(),
            Queued::Control { text, .. } => text,
            Queued::Snapshot { seq, cause, .. } => {
                out.push(Frame {
                    seq,
                    epoch: 0,
                    msg: ServerMsg::Snapshot {
                        cause,
                        windows: vec![],
                    },
                });
                continue;
            }
        };
        out.push(serde_json::from_str(&text).expect("a frame"));
    }
    out
}

fn connect(clients: &mut Clients) -> (u64, Arc<ClientShared>) {
    let shared = Arc::new(ClientShared::new(None));
    let wake = Nobody.start().recipient();
    let r = clients.register(shared.clone(), wake);
    (r.id, shared)
}

#[actix::test]
async fn a_resume_within_the_ring_gets_exactly_what_was_missed() {
    let mut clients = Clients::new(config(16, 1 << 20));
    let (id, shared) = connect(&mut clients);
    clients.attach(id, None);
    for i in 0..3 {
        clients.publish(|seq, epoch| Update::layer(seq, epoch, window(i * 10_000, 1)));
    }
    let got = frames(&shared);
    assert!(matches!(
        got[0].msg,
        ServerMsg::Snapshot {
            cause: SnapshotCause::Initial,
            ..
        }
    ));
    let seqs: Vec<u64> = got[1..].iter().map(|f| f.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3]);

    // Gone after 1; back with it.
    let (again, shared) = connect(&mut clients);
    clients.attach(again, Some((clients.epoch(), 1)));
    let got = frames(&shared);
    assert_eq!(got[0].msg, ServerMsg::Resumed { missed: 2 });
    assert_eq!(got[1..].iter().map(|f| f.seq).collect::<Vec<_>>(), [2, 3]);
}

#[actix::test]
async fn a_resume_beyond_the_ring_or_from_another_process_gets_a_snapshot() {
    let mut clients = Clients::new(config(2, 1 << 20));
    for i in 0..5 {
        clients.publish(|seq, epoch| Update::layer(seq, epoch, window(i * 10_000, 1)));
    }
    let cause = |clients: &mut Clients, resume| {
        let (id, shared) = connect(clients);
        clients.attach(id, Some(resume));
        match frames(&shared).first().map(|f| f.msg.clone()) {
            Some(ServerMsg::Snapshot { cause, .. }) => Some(cause),
            _ => None,
        }
    };
    let epoch = clients.epoch();
    assert_eq!(
        cause(&mut clients, (epoch, 1)),
        Some(SnapshotCause::TooFarBehind)
    );
    assert_eq!(cause(&mut clients, (epoch, 3)), None, "4 and 5 are kept");
    assert_eq!(
        cause(&mut clients, (epoch + 1, 3)),
        Some(SnapshotCause::EpochChanged)
    );
    assert_eq!(
        cause(&mut clients, (epoch, 9)),
        Some(SnapshotCause::TooFarBehind),
        "a number never sent"
    );
}

#[actix::test]
async fn a_client_past_its_bound_is_told_and_cut_while_others_go_on() {
    let mut clients = Clients::new(config(4, 4_096));
    let (slow, slow_q) = connect(&mut clients);
    let (fast, fast_q) = connect(&mut clients);
    clients.attach(slow, None);
    clients.attach(fast, None);
    let mut cut = 0;
    for i in 0..100 {
        frames(&fast_q);
        cut += clients
            .publish(|seq, epoch| Update::layer(seq, epoch, window(i * 10_000, 1)))
            .slow;
    }
    assert_eq!(cut, 1);
    let got = frames(&slow_q);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].msg, ServerMsg::TooSlow);
    frames(&fast_q);
    clients.publish(|seq, epoch| Update::layer(seq, epoch, window(0, 2)));
    assert_eq!(frames(&fast_q).len(), 1, "the fast client goes on");
    assert!(frames(&slow_q).is_empty(), "nothing more for the cut one");
}

#[actix::test]
async fn a_slow_client_gets_the_newest_value_of_each_window() {
    let mut clients = Clients::new(config(4, 1 << 20));
    let (id, shared) = connect(&mut clients);
    clients.attach(id, None);
    frames(&shared);
    for events in 1..=50 {
        clients.publish(|seq, epoch| Update::layer(seq, epoch, window(0, events)));
    }
    let got = frames(&shared);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].seq, 50);
}
