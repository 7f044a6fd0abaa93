//! The live analysis of an owner (a partition actor, a layer actor), off the stream's thread:
//! the windows an owner closes go through its detectors, trends, forecasts and alert rules on
//! a thread of the blocking pool, what they find is stored (alerts first, then what the
//! trackers made of the close), and each part is pushed to the live feed once stored.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::dev::ArbiterHandle;
use actix::Recipient;
use layercast_shared::{Alert, AlertStatus, OsiLayer, SeriesWindow, WindowAnomaly};
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{mpsc, watch};

use crate::analysis::anomaly::AnomalyConfig;
use crate::analysis::live::LiveDetectors;
use crate::analysis::{engine, Analysis, Findings, Inputs, SeriesState, StoredAlert};
use crate::analysis::{AlertState, Signal};
use crate::metrics::Metrics;
use crate::store::analysis::{NewChange, SavedState, StoredFindings, TrackerRows};
use crate::store::{StoreError, WriteFindings, WriteTrackers};

use super::backoff::Backoff;
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

/// A close's analysis that takes this long is logged.
const SLOW_CLOSE: Duration = Duration::from_millis(250);
/// Attempts at a write the database refuses (rather than one it is away for) before the
/// findings are dropped: a row it will never take must not hold up every later close.
const REFUSED_ATTEMPTS: u32 = 5;

/// Where an owner's findings are written.
pub struct AnalysisWriters {
    /// A close's anomalies and alert changes: a few rows a close.
    pub findings: Recipient<WriteFindings>,
    /// Trends, runways and the trackers' states: at a bucket's end thousands of rows, the
    /// states kilobytes each, which must not hold up the alerts (of this owner, or of others
    /// sharing its writers).
    pub trackers: Recipient<WriteTrackers>,
}

/// What an owner's analysis runs on and reports to.
pub struct AnalystDeps {
    /// The owner's base window length: the analysis takes windows of this length only.
    pub len_ms: i64,
    pub inputs: watch::Receiver<Arc<Inputs>>,
    pub writers: AnalysisWriters,
    pub updates: UpdatePublisher,
    /// Where the analyst's tasks wait for the database and publish: a thread off the stream's,
    /// which, busy with records, took 50-100 ms more to take the writes' answers than the
    /// database took to give them.
    pub thread: ArbiterHandle,
    /// Under which partition the alerts and states are stored.
    pub partition: i32,
    pub metrics: Arc<Metrics>,
}

/// What an owner hands its analysis, in order.
enum Job {
    /// The alerts and trackers the last owner stored (a takeover).
    Restore {
        alerts: Vec<Alert>,
        states: Vec<SavedState>,
    },
    /// Windows that closed before this owner: learnt from, not reported.
    Warm(Vec<SeriesWindow>),
    /// Windows due to close, and when the watermark closed them.
    Close {
        windows: Vec<SeriesWindow>,
        closed: Instant,
    },
}

/// What one close found, to store and then publish.
struct Found {
    anomalies: Vec<WindowAnomaly>,
    findings: Findings,
    closed: Instant,
}

/// What the trackers made of one close, stored after its alerts.
struct Tracked {
    trends: Vec<layercast_shared::SeriesTrend>,
    runways: Vec<layercast_shared::SeriesRunway>,
    states: Vec<(OsiLayer, String, SeriesState)>,
}

/// The detectors and the analysis of an owner's series, moved to a blocking thread for each
/// job and back.
struct Model {
    detectors: LiveDetectors,
    analysis: Analysis,
    inputs: watch::Receiver<Arc<Inputs>>,
}

impl Model {
    fn run(&mut self, job: Job) -> Option<Found> {
        match job {
            Job::Restore { alerts, states } => {
                self.restore(&alerts, &states);
                None
            }
            Job::Warm(windows) => {
                for w in &windows {
                    self.detectors.warm(w);
                    self.analysis.warm(w);
                }
                None
            }
            Job::Close { windows, closed } => Some(self.close(windows, closed)),
        }
    }

    /// Puts the stored alerts and trackers back (a new owner, before the history after them
    /// warms them).
    fn restore(&mut self, alerts: &[Alert], states: &[SavedState]) {
        for s in states {
            if let Some(state) = decode_state(s) {
                self.analysis.restore_state(s.layer, &s.entity, state);
            }
        }
        for a in alerts {
            self.analysis
                .restore_alert(&a.rule, a.layer, &a.entity, &a.metric, stored_alert(a));
        }
    }

    /// Runs closed windows, oldest first, through the anomaly detectors and the analysis, with
    /// the inputs as they are now.
    fn close(&mut self, mut windows: Vec<SeriesWindow>, closed: Instant) -> Found {
        if self.inputs.has_changed().unwrap_or(false) {
            self.analysis
                .set_inputs(self.inputs.borrow_and_update().clone());
        }
        windows.sort_by_key(|w| w.start_ms);
        let mut anomalies = Vec::new();
        let mut findings = Findings::default();
        for w in &windows {
            let (found, scores) = self.detectors.observe_scored(w);
            anomalies.extend(found);
            findings.extend(self.analysis.observe(w, &scores));
        }
        Found {
            anomalies,
            findings,
            closed,
        }
    }
}

/// An owner's analysis. The owner hands it the windows it closes, as the watermark closes
/// them: their values are final then (a record for them is late), and an alert need not wait
/// for the window batch. Three tasks, each in order: the analysis (on the blocking pool, so
/// that neither the stream's thread nor the other owners' writes wait for it), the anomalies
/// and alerts (stored, then published), and what the trackers made of the close (trends,
/// runways, states: stored after the alerts, then published).
///
/// A failed write is retried, not dropped, while the owner lives (with the database away, the
/// owner's window writes fail too and it takes no records, so no more closes queue up behind).
/// If the owner is gone first, a later owner analyses the same windows again from the stored
/// states, which are keyed by the windows they have seen: so a close's states are written only
/// once its alerts are.
pub struct Analyst {
    jobs: mpsc::UnboundedSender<Job>,
    /// `Metrics::analysis_queued_windows`.
    queued_windows: Gauge,
}

impl Analyst {
    /// Starts the analyst's tasks on `deps.thread`; they end once the owner has dropped it and
    /// what was queued is handled.
    pub fn start(deps: AnalystDeps) -> Self {
        let AnalystDeps {
            len_ms,
            mut inputs,
            writers,
            updates,
            thread,
            partition,
            metrics,
        } = deps;
        let mut analysis = Analysis::new(len_ms);
        analysis.set_inputs(inputs.borrow_and_update().clone());
        let model = Model {
            detectors: LiveDetectors::new(AnomalyConfig::default(), len_ms),
            analysis,
            inputs,
        };
        let (jobs, jobs_queued) = mpsc::unbounded_channel::<Job>();
        let (found, found_queued) = mpsc::unbounded_channel::<Found>();
        let (tracked, tracked_queued) = mpsc::unbounded_channel::<Tracked>();
        let queued_windows = metrics.analysis_queued_windows.clone();
        thread.spawn(run_jobs(
            model,
            jobs_queued,
            found,
            partition,
            metrics.clone(),
        ));
        thread.spawn(store_alerts(
            found_queued,
            tracked,
            writers.findings,
            updates.clone(),
            partition,
            metrics,
        ));
        thread.spawn(store_trackers(
            tracked_queued,
            writers.trackers,
            updates,
            partition,
        ));
        Analyst {
            jobs,
            queued_windows,
        }
    }

    /// The alerts and trackers the last owner stored, before the history after them.
    pub fn restore(&self, alerts: Vec<Alert>, states: Vec<SavedState>) {
        self.queue(Job::Restore { alerts, states });
    }

    /// Windows that closed before this owner, oldest first.
    pub fn warm(&self, windows: Vec<SeriesWindow>) {
        self.queue(Job::Warm(windows));
    }

    /// Windows the watermark closed at `closed`.
    pub fn close(&self, windows: Vec<SeriesWindow>, closed: Instant) {
        if !windows.is_empty() {
            self.queued_windows.inc_by(windows.len() as i64);
            self.queue(Job::Close { windows, closed });
        }
    }

    fn queue(&self, job: Job) {
        // Fails only when the task is gone, with the arbiter: nothing is left to analyse with.
        let _ = self.jobs.send(job);
    }
}

async fn run_jobs(
    model: Model,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    found: mpsc::UnboundedSender<Found>,
    partition: i32,
    metrics: Arc<Metrics>,
) {
    let mut model = Some(model);
    while let Some(job) = jobs.recv().await {
        let Some(mut m) = model.take() else { return };
        let windows = match &job {
            Job::Close { windows, .. } => windows.len() as u64,
            _ => 0,
        };
        let ran = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let out = m.run(job);
            (m, out, started.elapsed())
        })
        .await;
        let (m, out, took) = match ran {
            Ok(ran) => ran,
            Err(e) => {
                tracing::error!(error = %e, "the analysis failed; this owner's series are no longer analysed");
                return;
            }
        };
        model = Some(m);
        if let Some(out) = out {
            if took >= SLOW_CLOSE {
                // Its alerts waited this long: say which close it was and what it held.
                tracing::info!(
                    partition,
                    windows,
                    took_ms = took.as_millis() as u64,
                    anomalies = out.anomalies.len(),
                    alerts = out.findings.alerts.len(),
                    trends = out.findings.trends.len(),
                    runways = out.findings.runways.len(),
                    states = out.findings.states.len(),
                    "a close's analysis took long"
                );
            }
            metrics.analysis_seconds.observe(took.as_secs_f64());
            metrics.analysed_windows.inc_by(windows);
            metrics.analysis_queued_windows.dec_by(windows as i64);
            if !(out.anomalies.is_empty() && out.findings.is_empty()) {
                let _ = found.send(out);
            }
        }
    }
}

async fn store_alerts(
    mut queued: mpsc::UnboundedReceiver<Found>,
    tracked: mpsc::UnboundedSender<Tracked>,
    writer: Recipient<WriteFindings>,
    updates: UpdatePublisher,
    partition: i32,
    metrics: Arc<Metrics>,
) {
    while let Some(Found {
        anomalies,
        findings,
        closed,
    }) = queued.recv().await
    {
        let owner_alive = || !queued.is_closed();
        let Findings {
            alerts,
            trends,
            runways,
            states,
        } = findings;
        if !(anomalies.is_empty() && alerts.is_empty()) {
            let stored = StoredFindings {
                anomalies,
                changes: alerts.iter().filter_map(new_change).collect(),
            };
            let write = || {
                writer.send(WriteFindings {
                    partition,
                    findings: stored.clone(),
                    now_ms: chrono::Utc::now().timestamp_millis(),
                })
            };
            match retried(partition, "anomalies and alerts", write, &owner_alive).await {
                Ok(alerts) => {
                    updates.publish_anomalies(stored.anomalies);
                    if !alerts.is_empty() {
                        let delay = closed.elapsed().as_secs_f64();
                        for _ in &alerts {
                            metrics.alert_delay_seconds.observe(delay);
                        }
                        updates.publish_findings(alerts, Vec::new(), Vec::new());
                    }
                }
                // Without the alerts, not the states that have seen their windows either.
                Err(e) => {
                    tracing::warn!(partition, error = %e, "anomalies and alerts not stored");
                    continue;
                }
            }
        }
        if !(trends.is_empty() && runways.is_empty() && states.is_empty()) {
            let _ = tracked.send(Tracked {
                trends,
                runways,
                states,
            });
        }
    }
}

async fn store_trackers(
    mut queued: mpsc::UnboundedReceiver<Tracked>,
    writer: Recipient<WriteTrackers>,
    updates: UpdatePublisher,
    partition: i32,
) {
    while let Some(Tracked {
        trends,
        runways,
        states,
    }) = queued.recv().await
    {
        let owner_alive = || !queued.is_closed();
        let rows = TrackerRows {
            trends,
            runways,
            states: encode(states).await,
        };
        let write = || {
            writer.send(WriteTrackers {
                partition,
                rows: rows.clone(),
            })
        };
        match retried(partition, "trends, runways and states", write, &owner_alive).await {
            Ok(()) => updates.publish_findings(Vec::new(), rows.trends, rows.runways),
            Err(e) => {
                tracing::warn!(partition, error = %e, "trends, runways and states not stored")
            }
        }
    }
}

/// The trackers' states as stored, encoded on a blocking thread (a series' state is kilobytes
/// of JSON), the newest of each series only.
async fn encode(states: Vec<(OsiLayer, String, SeriesState)>) -> Vec<SavedState> {
    if states.is_empty() {
        return Vec::new();
    }
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

/// `write` until it succeeds, waiting longer after each failure: without limit while the
/// database is away and the owner lives, `REFUSED_ATTEMPTS` times when the database answers
/// with an error.
async fn retried<T, F>(
    partition: i32,
    what: &str,
    write: impl Fn() -> F,
    owner_alive: &impl Fn() -> bool,
) -> Result<T, FindingsError>
where
    F: std::future::Future<Output = Result<Result<T, StoreError>, actix::MailboxError>>,
{
    let (mut backoff, mut refused) = (Backoff::default(), 0);
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
        let wait = backoff.failed();
        tracing::warn!(partition, error = %error, retry_in = ?wait, "{what} not stored yet");
        tokio::time::sleep(wait).await;
    }
}
