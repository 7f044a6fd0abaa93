//! Alert notifications: the outbox (`store::notifications`) sent to the receivers admins set
//! (`/api/receivers`), a generic webhook or Alertmanager's API. Every node runs a sender; a
//! claim on an entry keeps two from sending it at once, and an entry stays until a receiver
//! answers 2xx, retried with backoff from 1 s doubling to 5 minutes: at least once, across
//! restarts.

pub mod payload;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};

use crate::metrics::Metrics;
use crate::store::analysis::Notice;
use crate::store::notifications::{self, Outgoing};
use crate::store::{settings, Db};

/// How often a node looks for due notifications.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// Entries one look takes at most.
const BATCH: i64 = 100;
/// A receiver that does not answer within this is retried later.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
const BACKOFF_FIRST_MS: i64 = 1_000;
const BACKOFF_MAX_MS: i64 = 5 * 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReceiverKind {
    /// `POST {url}` with a JSON body (`payload::webhook`).
    Webhook,
    /// Alertmanager's API: `POST {url}/api/v2/alerts`.
    Alertmanager,
}

/// Where notifications go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Receiver {
    pub name: String,
    pub kind: ReceiverKind,
    pub url: String,
    /// Sent as the `Authorization` header; shown as `(set)`, never as itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<String>,
}

/// Why a send failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("no receiver {0:?} (removed)")]
    NoReceiver(String),
    #[error("bad request: {0}")]
    Request(String),
    #[error("{0}")]
    Transport(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("the receiver answered {0}")]
    Status(u16),
}

/// The delay before the next try after `attempts` failed ones.
pub fn backoff_ms(attempts: i32) -> i64 {
    let doublings = u32::try_from(attempts.max(1) - 1).unwrap_or(0).min(20);
    BACKOFF_FIRST_MS
        .saturating_mul(1_i64 << doublings)
        .min(BACKOFF_MAX_MS)
}

type HttpClient = Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

fn client() -> Result<HttpClient, SendError> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| SendError::Transport(format!("no TLS roots: {e}")))?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

/// Starts this node's sender on the current tokio runtime.
pub fn start(db: Db, metrics: Arc<Metrics>) {
    tokio::spawn(async move {
        let client = match client() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "alert notifications cannot be sent from this node");
                return;
            }
        };
        loop {
            tokio::time::sleep(POLL_EVERY).await;
            if let Err(e) = send_due(&db, &client, &metrics).await {
                tracing::warn!(error = %e, "cannot read the notification outbox");
            }
        }
    });
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

async fn send_due(db: &Db, client: &HttpClient, metrics: &Metrics) -> Result<(), String> {
    let db2 = db.clone();
    let (due, receivers) = tokio::task::spawn_blocking(move || {
        let mut conn = db2.conn().map_err(|e| e.to_string())?;
        let due =
            notifications::claim_due(&mut conn, now_ms(), BATCH).map_err(|e| e.to_string())?;
        let receivers: Vec<Receiver> = if due.is_empty() {
            Vec::new()
        } else {
            settings::load(&mut conn, settings::RECEIVER).map_err(|e| e.to_string())?
        };
        Ok::<_, String>((due, receivers))
    })
    .await
    .map_err(|e| e.to_string())??;
    for o in due {
        let result = match receivers.iter().find(|r| r.name == o.receiver) {
            Some(r) => send(client, r, &o).await,
            None => Err(SendError::NoReceiver(o.receiver.clone())),
        };
        let db = db.clone();
        match &result {
            Ok(()) => {
                metrics.notifications_sent.inc();
            }
            Err(e) => {
                metrics.notifications_failed.inc();
                // The error names the receiver and the status, never its authorization.
                tracing::warn!(receiver = %o.receiver, alert = %o.alert_id, attempts = o.attempts + 1, error = %e, "notification not delivered; retried later");
            }
        };
        let error = result.err().map(|e| e.to_string());
        let _ = tokio::task::spawn_blocking(move || {
            let mut conn = db.conn().map_err(|e| e.to_string())?;
            match error {
                None => notifications::delivered(&mut conn, &o, now_ms()),
                Some(e) => {
                    notifications::failed(&mut conn, &o, &e, now_ms() + backoff_ms(o.attempts + 1))
                }
            }
            .map_err(|e| e.to_string())
        })
        .await;
    }
    Ok(())
}

async fn send(client: &HttpClient, r: &Receiver, o: &Outgoing) -> Result<(), SendError> {
    let notice: Notice =
        serde_json::from_str(&o.payload).map_err(|e| SendError::Request(e.to_string()))?;
    let (url, body) = match r.kind {
        ReceiverKind::Webhook => (r.url.clone(), payload::webhook(&notice)),
        ReceiverKind::Alertmanager => (
            format!("{}/api/v2/alerts", r.url.trim_end_matches('/')),
            payload::alertmanager(&notice),
        ),
    };
    let mut request = http::Request::post(&url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::USER_AGENT, "layercast");
    if let Some(auth) = &r.authorization {
        request = request.header(http::header::AUTHORIZATION, auth);
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| SendError::Request(e.to_string()))?;
    let response = tokio::time::timeout(SEND_TIMEOUT, client.request(request))
        .await
        .map_err(|_| SendError::Timeout(SEND_TIMEOUT))?
        .map_err(|e| SendError::Transport(e.to_string()))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(SendError::Status(status.as_u16()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_a_second_to_five_minutes() {
        let waits: Vec<i64> = (1..=12).map(backoff_ms).collect();
        assert_eq!(&waits[..5], &[1_000, 2_000, 4_000, 8_000, 16_000]);
        assert_eq!(waits[9], 300_000);
        assert!(waits.iter().all(|&w| w <= 300_000));
    }
}
