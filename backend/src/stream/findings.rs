//! From what the analysis finds in closed windows to what is stored and published: the
//! trackers' states are encoded off the stream's thread (a series' state is kilobytes of JSON,
//! and at a bucket boundary every series of the partition has one), then stored in one
//! transaction with the alerts, trends and runways, then pushed to the live feed.

use actix::Recipient;

use crate::analysis::live::LiveDetectors;
use crate::analysis::{engine, Analysis, Findings, Inputs, SeriesState, StoredAlert};
use crate::analysis::{AlertState, Signal};
use crate::store::analysis::{NewChange, SavedState, StoredFindings};
use crate::store::{StoreError, WriteAnomalies, WriteFindings};
use layercast_shared::{Alert, AlertStatus, SeriesWindow, WindowAnomaly};
use std::sync::Arc;
use tokio::sync::watch;

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

/// Stores the anomalies and publishes them, then the rest (anomalies first: an alert that
/// starts in these windows looks its precursor up among the stored anomalies). Failures are
/// logged: the next windows carry on.
pub async fn store_all(
    anomaly_writer: Recipient<WriteAnomalies>,
    findings_writer: Recipient<WriteFindings>,
    updates: UpdatePublisher,
    partition: i32,
    found: Vec<WindowAnomaly>,
    findings: Findings,
) {
    if !found.is_empty() {
        match anomaly_writer.send(WriteAnomalies(found.clone())).await {
            Ok(Ok(())) => updates.publish_anomalies(found),
            Ok(Err(e)) => tracing::warn!(partition, error = %e, "anomalies not stored"),
            Err(e) => tracing::warn!(partition, error = %e, "anomalies not stored"),
        }
    }
    if !findings.is_empty() {
        if let Err(e) = store_and_publish(findings_writer, updates, partition, findings).await {
            tracing::warn!(partition, error = %e, "alerts, trends and runways not stored");
        }
    }
}

/// Stores what was found (states encoded on a blocking thread), then publishes it.
async fn store_and_publish(
    writer: Recipient<WriteFindings>,
    updates: UpdatePublisher,
    partition: i32,
    findings: Findings,
) -> Result<(), FindingsError> {
    let Findings {
        alerts,
        trends,
        runways,
        states,
    } = findings;
    let states = tokio::task::spawn_blocking(move || {
        states
            .into_iter()
            .filter_map(|(layer, entity, state)| {
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
    .unwrap_or_default();
    let stored = StoredFindings {
        changes: alerts.iter().filter_map(new_change).collect(),
        trends: trends.clone(),
        runways: runways.clone(),
        states,
    };
    let write = WriteFindings {
        partition,
        findings: stored,
        now_ms: chrono::Utc::now().timestamp_millis(),
    };
    let alerts = writer.send(write).await.map_err(FindingsError::Writer)??;
    updates.publish_findings(alerts, trends, runways);
    Ok(())
}
