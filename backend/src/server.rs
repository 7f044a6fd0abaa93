//! `layercast serve`: starts every stage in one process and stops them in order.

use std::sync::Arc;

use actix::prelude::*;
use actix_web::{web, App, HttpServer};
use anyhow::Context as _;

use crate::api::{self, ApiState};
use crate::config::Config;
use crate::dashboard::{self, AssetLookup, DashboardFiles};
use crate::ingest::{InboxReader, InboxSettings, SourceBoard, SourceKeeper, Taker};
use crate::kafka::Broker;
use crate::live::{self, Hub, LocalHub, SnapshotSource};
use crate::metrics::Metrics;
use crate::store::{self, Aggregator, Db, LayerWriter};
use crate::stream::layers::{self, LayerStageSettings};
use crate::stream::{self, LateSink, StreamSettings, UpdatePublisher};
use crate::NodeId;

/// Seconds open connections (WebSockets above all) get to finish after SIGTERM; the
/// dashboards reconnect to another node, or to this one when it is back.
const SHUTDOWN_GRACE_SECS: u64 = 1;
/// Writer threads (each with its connection) for what the analysis finds in closed windows, on
/// a database that takes concurrent writers: an alert's row is written beside the window
/// batches instead of behind them, where it waited up to a close's whole batch.
const ANALYSIS_WRITERS: usize = 2;
/// Windows per layer in a snapshot: what the dashboard shows.
const SNAPSHOT_WINDOWS: i64 = 6;

/// Says so at start when MariaDB's buffer pool is smaller than the recommended one:
/// at Debian's default of 128 MiB the stream benchmark made 153,525 events/s durable instead
/// of 214,718 or more, reading its pages back from disk at every close.
async fn warn_of_small_buffer_pool(db: &Db) {
    use store::{RECOMMENDED_BUFFER_POOL_BYTES, RECOMMENDED_FOR_SERIES};
    let db = db.clone();
    match tokio::task::spawn_blocking(move || db.buffer_pool_bytes()).await {
        Ok(Ok(Some(bytes))) if bytes < RECOMMENDED_BUFFER_POOL_BYTES => tracing::warn!(
            innodb_buffer_pool_mib = bytes >> 20,
            recommended_mib = RECOMMENDED_BUFFER_POOL_BYTES >> 20,
            series = bytes.saturating_mul(RECOMMENDED_FOR_SERIES) / RECOMMENDED_BUFFER_POOL_BYTES,
            "the database's buffer pool is small for more series than this (1 GiB for 10,000): window closes may read pages back from disk (docs/operations.md, Database)"
        ),
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "cannot read the database's buffer pool size"),
        Err(e) => tracing::debug!(error = %e, "cannot read the database's buffer pool size"),
    }
}

/// Runs until SIGINT or SIGTERM. Must run inside an actix system. `dashboard`: the files the
/// binary carries, served unless `http.static_dir` names a folder.
pub async fn serve(config: Config, dashboard: Option<AssetLookup>) -> anyhow::Result<()> {
    let node = config.node_id();
    let mode = if config.is_embedded() {
        "embedded"
    } else {
        "production"
    };
    let window_len_ms = config.window_len_ms();

    let db_url = config.db_url()?;
    let db = {
        let (url, size) = (db_url.clone(), config.database.pool_size);
        tokio::task::spawn_blocking(move || Db::open(url, size)).await??
    };
    tracing::info!(database = db.kind(), "database ready");
    warn_of_small_buffer_pool(&db).await;

    let broker = Broker::start(&config.kafka).await?;
    if broker.is_embedded() {
        let db = db.clone();
        let topics = [
            config.kafka.events_topic.clone(),
            config.kafka.layers_topic.clone(),
        ];
        tokio::task::spawn_blocking(move || {
            let mut conn = db.conn()?;
            for topic in &topics {
                store::offsets::forget_topic(&mut conn, topic)?;
            }
            // The watermarks the sources had are gone with the topics.
            store::layer_windows::forget_progress(&mut conn)?;
            Ok::<_, store::StoreError>(())
        })
        .await??;
    }
    tracing::info!(bootstrap = %broker.bootstrap, embedded = broker.is_embedded(), "broker ready");
    let producer = broker
        .producer()
        .context("cannot create the Kafka producer")?;
    let (sources, layer_partitions) = {
        let producer = producer.clone();
        let topics = (
            config.kafka.events_topic.clone(),
            config.kafka.layers_topic.clone(),
        );
        tokio::task::spawn_blocking(move || {
            (
                crate::kafka::probe(&producer, &topics.0),
                crate::kafka::probe(&producer, &topics.1),
            )
        })
        .await?
    };
    // What the broker says; the configured numbers when it does not answer (then they are
    // what `Broker::start` just created).
    let count = |probed: Result<usize, _>, configured: i32| match probed {
        Ok(n) if n > 0 => i32::try_from(n).unwrap_or(configured),
        _ => configured,
    };
    let sources = count(sources, config.kafka.partitions);
    let layer_partitions = count(layer_partitions, crate::kafka::LAYERS_PARTITIONS);
    tracing::info!(sources, layer_partitions, "layer stage sizes");

    let metrics = Metrics::new();
    crate::metrics::watch_thread_lag(metrics.clone());
    let start_writers = |threads: usize| {
        let (db, metrics) = (db.clone(), metrics.clone());
        SyncArbiter::start(threads, move || {
            Aggregator::new(db.clone(), metrics.clone())
        })
    };
    // SQLite takes one writer at a time: more threads would only queue on its lock.
    let writers = if matches!(db_url, store::DbUrl::Sqlite(_)) {
        let one = start_writers(1);
        stream::StreamWriters {
            windows: one.clone(),
            analysis: one.clone(),
            trackers: one,
        }
    } else {
        stream::StreamWriters {
            windows: start_writers(config.database.writers),
            analysis: start_writers(ANALYSIS_WRITERS),
            trackers: start_writers(1),
        }
    };
    // The hub stays on the stream's thread, which paces it: on a thread of its own it fanned
    // a flood of windows out faster than a reading client took them, and cut that client.
    let hub = Hub::new(metrics.clone(), config.live.clone()).start();
    // The live analysis' tasks wait for its writes here (`stream::findings::AnalystDeps`). It
    // stops with the system (an `Arbiter` dropped keeps running).
    let analysis_thread = actix::Arbiter::new().handle();
    // Per process, not per node id: two processes given the same id by mistake must still
    // see each other's updates.
    let origin = format!(
        "{node}/{}/{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    );
    let local_hub = LocalHub {
        origin: origin.clone(),
        hub: hub.clone().recipient(),
    };
    live::follow_updates(&broker, &config.kafka.updates_topic, hub.clone(), origin)
        .context("cannot follow the updates topic")?;
    let inputs = stream::inputs::follow(db.clone());
    let layer_stage = layers::start(
        &broker,
        db.clone(),
        // One writer: the stage writes a few rows a second per layer.
        SyncArbiter::start(1, {
            let db = db.clone();
            move || LayerWriter::new(db.clone())
        }),
        UpdatePublisher::new(
            producer.clone(),
            config.kafka.updates_topic.clone(),
            local_hub.clone(),
        ),
        LayerStageSettings {
            layers_topic: config.kafka.layers_topic.clone(),
            group_id: format!("{}.layers", config.kafka.group_id),
            node: node.clone(),
            sources,
            partitions: layer_partitions,
            base_len_ms: window_len_ms,
            idle_timeout_ms: config.event_time().idle_timeout_ms,
            session_timeout_ms: config.kafka.session_timeout_ms,
            rebalance_timeout_ms: config.kafka.rebalance_timeout_ms,
            metrics: metrics.clone(),
            inputs: inputs.clone(),
            analysis_thread: analysis_thread.clone(),
        },
    )
    .context("cannot start the layer stage")?;
    let stream = stream::start(
        &broker,
        db.clone(),
        writers,
        UpdatePublisher::new(
            producer.clone(),
            config.kafka.updates_topic.clone(),
            local_hub.clone(),
        ),
        LateSink::new(producer.clone(), config.kafka.late_topic.clone()),
        StreamSettings {
            events_topic: config.kafka.events_topic.clone(),
            group_id: config.kafka.group_id.clone(),
            node: node.clone(),
            event_time: config.event_time(),
            session_timeout_ms: config.kafka.session_timeout_ms,
            rebalance_timeout_ms: config.kafka.rebalance_timeout_ms,
            metrics: metrics.clone(),
            layers: layers::LayerFeed::start(
                &broker,
                config.kafka.layers_topic.clone(),
                layer_partitions,
            )
            .context("cannot create the layer feed's producer")?,
            fresh_log: broker.is_embedded(),
            inputs,
            analysis_thread,
        },
    )
    .context("cannot start the stream stage")?;
    let taker = Taker {
        db: db.clone(),
        producer: producer.clone(),
        events_topic: config.kafka.events_topic.clone(),
        node: node.clone(),
        lease_ms: i64::try_from(config.ingest.claim_lease_ms).unwrap_or(i64::MAX),
        metrics: metrics.clone(),
    };
    let inbox = InboxReader::new(
        InboxSettings {
            dir: config.inbox(),
            poll: std::time::Duration::from_millis(config.ingest.poll_ms),
        },
        taker.clone(),
    )
    .start();
    let board = SourceBoard::default();
    let sources = SourceKeeper::start(
        db.clone(),
        taker.clone(),
        board.clone(),
        config.sources.clone(),
    );

    let api_state = ApiState {
        db: db.clone(),
        producer: producer.clone(),
        events_topic: config.kafka.events_topic.clone(),
        owned_partitions: stream.owned_view(),
        mode,
        node: node.clone(),
        window_len_ms,
        window_lengths_ms: config.retention().into_iter().map(|(len, _)| len).collect(),
        metrics,
        sources: board,
        updates: UpdatePublisher::new(
            producer.clone(),
            config.kafka.updates_topic.clone(),
            local_hub.clone(),
        ),
    };
    store::retention::start(db.clone(), config.retention());
    crate::notify::start(db.clone(), api_state.metrics.clone());
    let snapshot: SnapshotSource = {
        let db = db.clone();
        Arc::new(move || {
            let mut conn = db.conn().map_err(|e| e.to_string())?;
            store::layer_windows::latest(&mut conn, window_len_ms, SNAPSHOT_WINDOWS)
                .map_err(|e| e.to_string())
        })
    };
    let auth = api::auth::AuthState::new(db.clone(), &config.auth, config.anonymous_viewer());
    {
        let (db, dir) = (db.clone(), config.data_dir.clone());
        match web::block(move || api::auth::create_initial_admin(&db, &dir)).await? {
            Ok(Some((password, file))) => println!(
                "First start: log in as {} with password {password} (also in {}; change it under Admin, Users)",
                api::auth::FIRST_ADMIN,
                file.display()
            ),
            Ok(None) => {}
            Err(e) => return Err(e).context("cannot create the first admin"),
        }
    }
    let max_body_bytes = config.auth.max_body_bytes;
    let fixed_sources = api::sources::FileSources(Arc::new(config.sources.clone()));
    let openapi =
        api::openapi::OpenApiJson(Arc::new(api::openapi_document(max_body_bytes).to_string()));
    let dashboard = DashboardFiles::choose(config.http.static_dir.as_deref(), dashboard);
    match &dashboard {
        Some(files) if files.has_index() => tracing::info!(files = %files.describe(), "dashboard"),
        Some(files) => tracing::warn!(dir = %files.describe(), "no built frontend there; run scripts/build-frontend (the API works without it)"),
        None => tracing::warn!("this binary has no dashboard built in and no http.static_dir is set (the API works without it)"),
    }
    let dashboard = web::Data::new(dashboard);
    let node_id = NodeId(node.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(api_state.clone()))
            .app_data(web::Data::new(auth.clone()))
            .app_data(web::Data::new(openapi.clone()))
            .app_data(web::Data::new(fixed_sources.clone()))
            .app_data(web::Data::new(hub.clone()))
            .app_data(web::Data::new(snapshot.clone()))
            .app_data(web::Data::new(node_id.clone()))
            // Inside the logger, so that refused requests are logged with their status.
            .wrap(actix_web::middleware::from_fn(api::auth::guard))
            .wrap(
                // `%U`: the path without the query, which may carry a `?token=`.
                actix_web::middleware::Logger::new("%{method}xi %U %s %Dms")
                    .custom_request_replace("method", |req| req.method().to_string())
                    .log_target("layercast::http")
                    .exclude("/api/health"),
            )
            .configure(api::routes(max_body_bytes))
            .route("/ws", web::get().to(live::ws_route))
            .app_data(dashboard.clone())
            .default_service(web::to(dashboard::serve_file))
    })
    // A second handle on each socket, for the hub to cut a WebSocket client that stops reading.
    .on_connect(live::remember_socket)
    .workers(2)
    // Open dashboards would otherwise hold a SIGTERM for actix's default 30 s.
    .shutdown_timeout(SHUTDOWN_GRACE_SECS)
    .bind(config.http.listen)
    .with_context(|| {
        format!(
            "cannot listen on {} (setting http.listen)",
            config.http.listen
        )
    })?
    .run();
    let addr = config.http.listen;
    println!("LayerCast ({mode} mode, node {node}) at http://{addr}/");
    if config.anonymous_viewer() {
        println!("Anyone who reaches it may view (auth.anonymous_viewer); changes need an admin's login.");
    }
    tracing::info!(%addr, mode, "serving");

    server.await.context("HTTP server failed")?;
    tracing::info!("shutting down: writing what the partitions hold");
    inbox.do_send(StopInbox);
    sources.stop();
    stream.stop().await;
    // After the events stage, whose last writes may have sent final contributions.
    layer_stage.stop().await;
    // Keep the broker (the embedded one is in this process) until every client is done.
    drop(producer);
    drop(broker);
    Ok(())
}

#[derive(Message)]
#[rtype(result = "()")]
struct StopInbox;

impl Handler<StopInbox> for InboxReader {
    type Result = ();

    fn handle(&mut self, _: StopInbox, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
