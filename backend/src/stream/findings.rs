//! From what the analysis finds in closed windows to what is stored and published: the
//! trackers' states are encoded off the stream's thread (a series' state is kilobytes of JSON,
//! and at a bucket boundary every series of the partition has one), then stored in one
//! transaction with the alerts, trends and runways, then pushed to the live feed.

use actix::Recipient;

use crate::analysis::live::LiveDetectors;
use crate::analysis::{engine, Analysis, Findings, Inputs, SeriesState, StoredAlert};
use crate::analysis::{AlertState, Signal};
use crate::store::analysis::{NewChange, SavedState, StoredFindings};
use crate::store::{StoreError, WriteAnomalies, WriteFindings, WriteStates};
use layercast_shared::{Alert, AlertStatus, OsiLayer, SeriesWindow, WindowAnomaly};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

use super::outputs::UpdatePublisher;

fn status(state: AlertState) -> Option<AlertStatus> {
    match state {
        AlertState::Pending => Some(AlertStatus::Pending),
        AlertState::Firing => Some(AlertStatus::Firing),
        // A pending alert that stopped holding ends its episode as a firing one does.
        AlertState::Resolved | AlertState::Inactive => Some(AlertStatus::Resolved),
    }
}

fn state_name(state: AlertState) -> &'static str {
    match state {
        AlertState::Inactive => "inactive",
        AlertState::Pending => "pending",
        AlertState::Firing => "firing",
        AlertState::Resolved => "resolved",
    }
}

pub fn signal_name(signal: Signal) -> &'static str {
    match signal {
        Signal::Value => "value",
        Signal::AnomalyScore => "anomaly_score",
        Signal::RunwayDays => "runway_days",
        Signal::ChangePercent => "change_percent",
    }
}

/// The store's view of an alert change.
pub fn new_change(c: &engine::AlertChange) -> Option<NewChange> {
    let t = &c.transition;
    Some(NewChange {
        id: c.id.clone(),
        rule: t.rule_id.clone(),
        layer: t.series.layer,
        entity: t.series.entity.clone(),
        metric: t.series.metric.clone(),
        from: state_name(t.from).to_owned(),
        to: status(t.to)?,
        at_ms: t.at_ms,
        since_ms: t.active_since_ms.unwrap_or(t.at_ms),
        value: if t.value.is_finite() { t.value } else { 0.0 },
        threshold: if c.threshold.is_finite() {
            c.threshold
        } else {
            0.0
        },
        signal: signal_name(t.signal).to_owned(),
    })
}

/// How a stored alert goes back into the state machine.
pub fn stored_alert(a: &Alert) -> StoredAlert {
    StoredAlert {
        state: match a.state {
            AlertStatus::Pending => AlertState::Pending,
            AlertStatus::Firing => AlertState::Firing,
            AlertStatus::Resolved => AlertState::Resolved,
        },
        active_since_ms: Some(a.since_ms),
        acknowledged: a.acknowledged,
        silenced_until_ms: a.silenced_until_ms,
    }
}

pub fn decode_state(s: &SavedState) -> Option<SeriesState> {
    match serde_json::from_str(&s.json) {
        Ok(state) => Some(state),
        Err(e) => {
            // A state of another version: the series learns afresh from its windows.
            tracing::warn!(layer = %s.layer, entity = %s.entity, error = %e, "stored analysis state unreadable");
            None
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FindingsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the writer is gone: {0}")]
    Writer(actix::MailboxError),
}

/// Runs closed windows (oldest first) through the anomaly detectors and the analysis, with the
/// inputs as they are now: what the partition actors and the layer stage do at each close.
pub fn analyse(
    detectors: &mut LiveDetectors,
    analysis: &mut Analysis,
    inputs: &mut watch::Receiver<Arc<Inputs>>,
    windows: &[&SeriesWindow],
) -> (Vec<WindowAnomaly>, Findings) {
    if inputs.has_changed().unwrap_or(false) {
        analysis.set_inputs(inputs.borrow_and_update().clone());
    }
    let mut found = Vec::new();
    let mut findings = Findings::default();
    for w in windows {
        let (anomalies, scores) = detectors.observe_scored(w);
        found.extend(anomalies);
        findings.extend(analysis.observe(w, &scores));
    }
    (found, findings)
}

/// Puts a partition's stored alerts and trackers back into its analysis (a new owner, before
/// the history after them warms it).
pub fn restore(analysis: &mut Analysis, alerts: &[Alert], states: &[SavedState]) {
    for s in states {
        if let Some(state) = decode_state(s) {
            analysis.restore_state(s.layer, &s.entity, state);
        }
    }
    for a in alerts {
        analysis.restore_alert(&a.rule, a.layer, &a.entity, &a.metric, stored_alert(a));
    }
}

/// What one close of an owner found, to store and then publish.
type Found = (Vec<WindowAnomaly>, Findings);

/// Pause after a failed write of findings, doubling up to the maximum.
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(8);
/// Attempts at a write the database refuses (rather than one it is away for) before the
/// findings are dropped: a row it will never take must not hold up every later close.
const REFUSED_ATTEMPTS: u32 = 5;

/// Where an owner's findings are written.
pub struct AnalysisWriters {
    pub anomalies: Recipient<WriteAnomalies>,
    /// Alert changes, trends and runways: a few rows a close.
    pub findings: Recipient<WriteFindings>,
    /// The trackers' states: at a bucket's end thousands of rows of kilobytes each, which
    /// must not hold up the alerts (of this owner, or of others sharing its writers).
    pub states: Recipient<WriteStates>,
}

/// Stores what an owner's closes find, one close after another in the order they came, and
/// publishes each once stored. The analysis runs as windows close, before their rows are
/// durable, so that an alert does not wait for the window batch: these rows go on writers of
/// their own, and a write that fails is retried, not dropped, while the owner lives (with the
/// database away, the owner's window writes fail too and it takes no records, so no more closes
/// queue up behind). If the owner is gone first, a later owner analyses the same windows again
/// from the stored state, which is keyed by the windows it has seen: so a close's states are
/// written only once its alerts are, by a task of their own that the next alerts do not wait
/// for.
pub struct FindingsWriter {
    queue: mpsc::UnboundedSender<Found>,
}

impl FindingsWriter {
    /// Starts the writer's tasks on the publisher's thread, where their answers are taken at
    /// once (see `UpdatePublisher::thread`); they end once every handle is dropped and what was
    /// queued is handled.
    pub fn start(writers: AnalysisWriters, updates: UpdatePublisher, partition: i32) -> Self {
        let (queue, mut queued) = mpsc::unbounded_channel::<Found>();
        let (states_queue, mut states_queued) =
            mpsc::unbounded_channel::<Vec<(OsiLayer, String, SeriesState)>>();
        let thread = updates.thread().clone();
        let AnalysisWriters {
            anomalies,
            findings: findings_writer,
            states: states_writer,
        } = writers;
        thread.spawn(async move {
            while let Some((found, findings)) = queued.recv().await {
                let owner_alive = || !queued.is_closed();
                if !found.is_empty() {
                    let write = || anomalies.send(WriteAnomalies(found.clone()));
                    match retried(partition, "anomalies", write, &owner_alive).await {
                        Ok(()) => updates.publish_anomalies(found),
                        Err(e) => tracing::warn!(partition, error = %e, "anomalies not stored"),
                    }
                }
                if findings.is_empty() {
                    continue;
                }
                let Findings {
                    alerts,
                    trends,
                    runways,
                    states,
                } = findings;
                let stored = StoredFindings {
                    changes: alerts.iter().filter_map(new_change).collect(),
                    trends: trends.clone(),
                    runways: runways.clone(),
                };
                let write = || {
                    findings_writer.send(WriteFindings {
                        partition,
                        findings: stored.clone(),
                        now_ms: chrono::Utc::now().timestamp_millis(),
                    })
                };
                match retried(partition, "alerts, trends and runways", write, &owner_alive).await {
                    Ok(alerts) => {
                        updates.publish_findings(alerts, trends, runways);
                        if !states.is_empty() {
                            let _ = states_queue.send(states);
                        }
                    }
                    // Without the alerts, not the states that have seen their windows either.
                    Err(e) => {
                        tracing::warn!(partition, error = %e, "alerts, trends and runways not stored")
                    }
                }
            }
        });
        thread.spawn(async move {
            while let Some(states) = states_queued.recv().await {
                let owner_alive = || !states_queued.is_closed();
                let states = encode(states).await;
                let write = || {
                    states_writer.send(WriteStates {
                        partition,
                        states: states.clone(),
                    })
                };
                if let Err(e) = retried(partition, "analysis states", write, &owner_alive).await {
                    tracing::warn!(partition, error = %e, "analysis states not stored");
                }
            }
        });
        FindingsWriter { queue }
    }

    pub fn store(&self, found: Vec<WindowAnomaly>, findings: Findings) {
        if found.is_empty() && findings.is_empty() {
            return;
        }
        // Fails only when the task is gone, with the arbiter: nothing is left to write with.
        let _ = self.queue.send((found, findings));
    }
}

/// The trackers' states as stored, encoded on a blocking thread (a series' state is kilobytes
/// of JSON), the newest of each series only.
async fn encode(states: Vec<(OsiLayer, String, SeriesState)>) -> Vec<SavedState> {
    tokio::task::spawn_blocking(move || {
        let mut newest: HashMap<(OsiLayer, String), SeriesState> = HashMap::new();
        for (layer, entity, state) in states {
            newest.insert((layer, entity), state);
        }
        newest
            .into_iter()
            .filter_map(|((layer, entity), state)| {
                Some(SavedState {
                    layer,
                    entity,
                    last_start_ms: state.last_start_ms,
                    json: serde_json::to_string(&state).ok()?,
                })
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default()
}

/// `write` until it succeeds: without limit while the database is away and the owner lives,
/// `REFUSED_ATTEMPTS` times when the database answers with an error.
async fn retried<T, F>(
    partition: i32,
    what: &str,
    write: impl Fn() -> F,
    owner_alive: &impl Fn() -> bool,
) -> Result<T, FindingsError>
where
    F: std::future::Future<Output = Result<Result<T, StoreError>, actix::MailboxError>>,
{
    let (mut wait, mut refused) = (RETRY_FIRST, 0);
    loop {
        let error = match write().await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) => FindingsError::Store(e),
            Err(e) => return Err(FindingsError::Writer(e)),
        };
        let away = matches!(
            error,
            FindingsError::Store(StoreError::Connect(_) | StoreError::Pool(_))
        );
        refused += u32::from(!away);
        if !owner_alive() || refused >= REFUSED_ATTEMPTS {
            return Err(error);
        }
        tracing::warn!(partition, error = %error, retry_in = ?wait, "{what} not stored yet");
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(RETRY_MAX);
    }
}
