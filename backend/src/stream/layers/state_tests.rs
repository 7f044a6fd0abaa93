//! The layer stage's rules on its pure state: finality over several sources, idle sources,
//! re-delivery, final values, and replays after a takeover.

use layercast_shared::{LayerPartial, OsiLayer, PartialWindow, LAYER_PARTIAL_VERSION};

use super::LayerState;
use crate::store::layer_windows::Progress;

const LEN: i64 = 10_000;
const IDLE_MS: i64 = 60_000;

fn window(start_ms: i64, events: u64, is_final: bool) -> PartialWindow {
    PartialWindow {
        start_ms,
        len_ms: LEN,
        events,
        bytes: events * 100,
        packets: 0,
        connections: 0,
        requests: 0,
        errors: 0,
        error_classes: Default::default(),
        latency_sketch: None,
        is_final,
    }
}

fn partial(source: i32, closed_through: Option<i64>, windows: Vec<PartialWindow>) -> LayerPartial {
    LayerPartial {
        v: LAYER_PARTIAL_VERSION,
        source_partition: source,
        layer: OsiLayer::L3,
        closed_through: closed_through.map(|t| vec![(LEN, t)]).unwrap_or_default(),
        windows,
    }
}

/// (start, events, is_final) of the rows pending.
fn rows(state: &LayerState, with_provisional: bool) -> Vec<(i64, i64, bool)> {
    state
        .pending(with_provisional)
        .rows
        .iter()
        .map(|r| (r.window_start, r.events, r.is_final))
        .collect()
}

#[test]
fn a_window_is_final_once_every_source_closed_it() {
    let mut s = LayerState::new(3, IDLE_MS, LEN, 0, 0);
    s.take(0, &partial(0, Some(0), vec![window(0, 2, true)]), 1);
    s.take(1, &partial(1, Some(0), vec![window(0, 3, true)]), 1);
    s.take(2, &partial(1, None, vec![window(10_000, 7, false)]), 1);
    s.close(2);
    assert!(rows(&s, false).is_empty(), "source 2 has not spoken");
    assert_eq!(s.position(), 0, "the oldest contribution to an open window");
    s.take(3, &partial(2, Some(0), vec![window(0, 5, true)]), 3);
    s.close(4);
    assert_eq!(rows(&s, false), vec![(0, 10, true)]);
    assert_eq!(s.pending(false).rows[0].sources, 3);
    assert_eq!(
        rows(&s, true),
        vec![(0, 10, true), (10_000, 7, false)],
        "and the open one, provisional"
    );
    let pending = s.pending(true);
    assert_eq!(
        pending.position, 0,
        "not past the final rows until they are durable"
    );
    assert_eq!(pending.publish.len(), 2);
    s.written(&pending);
    assert_eq!(s.position(), 2, "now only the open window holds it");
    assert!(rows(&s, true).is_empty(), "nothing changed since");
}

#[test]
fn re_delivery_is_idempotent_and_a_provisional_value_never_replaces_a_final_one() {
    let mut s = LayerState::new(2, IDLE_MS, LEN, 0, 0);
    s.take(0, &partial(0, None, vec![window(0, 4, false)]), 1);
    s.take(1, &partial(0, None, vec![window(0, 6, false)]), 1);
    s.take(2, &partial(0, None, vec![window(0, 8, true)]), 1);
    s.take(3, &partial(0, None, vec![window(0, 8, true)]), 1);
    s.take(4, &partial(0, None, vec![window(0, 5, false)]), 1);
    s.take(5, &partial(1, None, vec![window(0, 1, true)]), 1);
    s.take(6, &partial(1, None, vec![window(0, 1, true)]), 1);
    assert_eq!(
        rows(&s, true),
        vec![(0, 9, false)],
        "last value per source, the final one kept"
    );
    s.take(7, &partial(0, Some(0), vec![]), 2);
    s.take(8, &partial(1, Some(0), vec![]), 2);
    s.close(3);
    assert_eq!(rows(&s, false), vec![(0, 9, true)]);
}

#[test]
fn an_idle_source_does_not_hold_windows_open_unless_it_sent_a_provisional_value() {
    let mut s = LayerState::new(3, IDLE_MS, LEN, 0, 0);
    // Source 2 never speaks (a partition without traffic); source 1 sent a provisional value
    // of the second window, then went silent.
    s.take(
        0,
        &partial(
            0,
            Some(10_000),
            vec![window(0, 2, true), window(10_000, 2, true)],
        ),
        1_000,
    );
    s.take(
        1,
        &partial(
            1,
            Some(0),
            vec![window(0, 3, true), window(10_000, 1, false)],
        ),
        1_000,
    );
    s.close(IDLE_MS - 1);
    assert!(rows(&s, false).is_empty(), "source 2 is not idle yet");
    assert_eq!(s.idle_sources(OsiLayer::L3, IDLE_MS - 1), 0);
    s.close(IDLE_MS);
    assert_eq!(
        rows(&s, false),
        vec![(0, 5, true)],
        "source 2 idle now; the second window waits for source 1"
    );
    assert_eq!(s.idle_sources(OsiLayer::L3, IDLE_MS), 1);
    s.close(IDLE_MS + 1_000);
    assert_eq!(
        rows(&s, false),
        vec![(0, 5, true)],
        "source 1, idle too, still owes its final value"
    );
    s.take(
        2,
        &partial(1, Some(10_000), vec![window(10_000, 1, true)]),
        IDLE_MS + 1_500,
    );
    s.close(IDLE_MS + 1_500);
    assert_eq!(rows(&s, false), vec![(0, 5, true), (10_000, 3, true)]);
    // The idle source speaks again about a window already final: skipped.
    let took = s.take(
        3,
        &partial(2, Some(10_000), vec![window(10_000, 9, true)]),
        IDLE_MS + 2_000,
    );
    assert_eq!((took.windows, took.skipped), (0, 1));
}

#[test]
fn a_takeover_skips_what_is_final_and_resumes_with_the_stored_watermarks() {
    let mut old = LayerState::new(2, IDLE_MS, LEN, 0, 0);
    old.take(
        0,
        &partial(
            0,
            Some(0),
            vec![window(0, 2, true), window(10_000, 1, false)],
        ),
        1,
    );
    old.take(1, &partial(1, Some(0), vec![window(0, 3, true)]), 1);
    old.close(2);
    let pending = old.pending(true);
    let stored: Progress = pending.progress.clone();
    assert_eq!(
        pending.position, 0,
        "the open window's contribution came with offset 0"
    );
    old.written(&pending);

    // A new owner starts at the stored position with the stored progress, and reads the
    // same records again.
    let mut new = LayerState::new(2, IDLE_MS, LEN, pending.position, 100);
    new.restore(&stored, 100);
    let took = new.take(
        0,
        &partial(
            0,
            Some(0),
            vec![window(0, 2, true), window(10_000, 1, false)],
        ),
        101,
    );
    assert_eq!(
        (took.windows, took.skipped),
        (1, 1),
        "the final window is skipped, the open one rebuilt"
    );
    new.take(1, &partial(1, Some(0), vec![window(0, 3, true)]), 101);
    new.close(102);
    assert!(rows(&new, false).is_empty(), "nothing is final twice");
    // Source 1 closes the second window; source 0's close of it is known from before.
    new.take(
        2,
        &partial(0, Some(10_000), vec![window(10_000, 1, true)]),
        103,
    );
    new.take(3, &partial(1, Some(10_000), vec![]), 103);
    new.close(104);
    assert_eq!(rows(&new, false), vec![(10_000, 1, true)]);
    assert_eq!(
        new.final_through().collect::<Vec<_>>(),
        vec![(OsiLayer::L3, LEN, 10_000)]
    );
}

#[test]
fn stored_watermarks_spare_a_takeover_from_waiting_for_every_source() {
    let mut old = LayerState::new(2, IDLE_MS, LEN, 0, 0);
    old.take(0, &partial(0, Some(0), vec![]), 1);
    old.take(1, &partial(1, Some(0), vec![]), 1);
    old.take(2, &partial(1, Some(20_000), vec![]), 1);
    let pending = old.pending(false);
    let mut new = LayerState::new(2, IDLE_MS, LEN, pending.position, 10);
    new.restore(&pending.progress, 10);
    new.take(
        3,
        &partial(0, Some(20_000), vec![window(20_000, 4, true)]),
        11,
    );
    new.close(12);
    assert_eq!(
        rows(&new, false),
        vec![(20_000, 4, true)],
        "source 1's close came from the database"
    );
}

#[test]
fn a_final_layer_window_merges_its_sources_latency_sketches_and_a_provisional_one_has_none() {
    use crate::stream::window::Latency;
    let sketch = |values: &[f64]| {
        let mut l = Latency::new();
        for v in values {
            l.add(*v);
        }
        Some(l.to_bytes())
    };
    let mut s = LayerState::new(2, IDLE_MS, LEN, 0, 0);
    let mut a = window(0, 2, true);
    a.latency_sketch = sketch(&[10.0, 20.0]);
    let mut b = window(0, 3, true);
    b.latency_sketch = sketch(&[30.0, 40.0, 1_000.0]);
    s.take(0, &partial(0, Some(0), vec![a]), 1);
    s.take(1, &partial(1, None, vec![window(10_000, 1, false)]), 1);
    s.take(2, &partial(1, Some(0), vec![b]), 1);
    s.close(2);
    let pending = s.pending(true);
    let closed = pending
        .rows
        .iter()
        .find(|r| r.is_final)
        .expect("the final row");
    let merged =
        Latency::from_bytes(closed.latency_sketch.as_deref().expect("a sketch")).expect("decodes");
    let summary = merged.summary().expect("a summary");
    assert_eq!(summary.count, 5, "every record of both sources");
    assert!((summary.max_ms - 1_000.0).abs() < 20.0, "{summary:?}");
    let open = pending
        .rows
        .iter()
        .find(|r| !r.is_final)
        .expect("the open row");
    assert_eq!(open.latency_sketch, None);
}
