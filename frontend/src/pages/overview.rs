//! `/`: one card per layer with its throughput, error rate, sparkline, trend, anomalies and
//! shortest runway; the firing alerts; ingest health (files behind, malformed records,
//! partition lag).

use layercast_shared::{
    Alert, IngestReport, LayerSeriesWindow, OsiLayer, PartitionStatus, SeriesRunway, SeriesTrend,
    WindowAnomaly,
};
use leptos::prelude::*;

use crate::components::{AnomalyList, LayerCard, PartitionTable};
use crate::format;
use crate::live::{series_key, use_live_feed};
use crate::model::overview::summarize;
use crate::model::route::Page;
use crate::remote::{load, now_ms, view_load, Load};

/// The span of the sparklines.
const SPARK_SPAN_MS: i64 = 3_600_000;

#[component]
pub fn Overview() -> impl IntoView {
    let feed = use_live_feed();
    let since = now_ms() - SPARK_SPAN_MS;
    let layers = load::<Vec<LayerSeriesWindow>>(move || format!("/api/layers?from={since}"));
    // Runway, trends and anomalies are read again when the live feed says they moved.
    let runway = load::<Vec<SeriesRunway>>(move || {
        feed.runway.with(|_| ());
        "/api/runway".to_owned()
    });
    let trends = load::<Vec<SeriesTrend>>(|| "/api/trends".to_owned());
    let anomalies = load::<Vec<WindowAnomaly>>(move || {
        feed.anomalies_seen.get();
        "/api/anomalies".to_owned()
    });
    // While the feed is down the cards keep the last data they had, dimmed, rather than
    // going blank: a planner still sees where things stood.
    let stale = move || !feed.state.get().is_live();

    let cards = OsiLayer::ALL
        .into_iter()
        .map(|layer| {
            let history = feed.history(layer);
            let summary = Memo::new(move |_| {
                let rest = layers.with(|l| l.ready().cloned().unwrap_or_default());
                let live = history.with(|h| h.windows().to_vec());
                let mut trend_list = trends.with(|t| t.ready().cloned().unwrap_or_default());
                trend_list.extend(
                    feed.trends
                        .with(|m| m.values().cloned().collect::<Vec<_>>()),
                );
                // The live value of a series replaces the loaded one.
                let live_runway = feed.runway.get();
                let mut run: Vec<SeriesRunway> = runway
                    .with(|r| r.ready().cloned().unwrap_or_default())
                    .into_iter()
                    .filter(|r| {
                        !live_runway.contains_key(&series_key(r.layer, &r.entity, &r.metric))
                    })
                    .collect();
                run.extend(live_runway.into_values());
                trend_list.reverse();
                let anomalies = anomalies.with(|a| a.ready().cloned().unwrap_or_default());
                summarize(layer, &rest, &live, &trend_list, &run, &anomalies)
            });
            view! { <LayerCard layer summary=summary /> }
        })
        .collect_view();

    view! {
        <AlertRibbon />
        <IngestHealth />
        <section class="layers" class:stale=stale>{cards}</section>
        <AnomalyList />
        <PartitionTable />
    }
}

/// The firing alerts, live, as a ribbon over the cards.
#[component]
fn AlertRibbon() -> impl IntoView {
    let feed = use_live_feed();
    let loaded = load::<Vec<Alert>>(|| "/api/alerts?state=firing".to_owned());
    let firing = move || {
        let rest = loaded.with(|l| l.ready().cloned().unwrap_or_default());
        feed.alerts.with(|live| live.merged(&rest).firing())
    };
    view! {
        <section class="ribbon" data-testid="alert-ribbon" aria-label="Firing alerts">
            {move || match (loaded.get(), firing()) {
                (Load::Failed(e), _) => view! {
                    <p class="state error" data-testid="state-error">"Alerts: " {e}</p>
                }.into_any(),
                (_, firing) if firing.is_empty() => view! {
                    <p class="ribbon-quiet" data-testid="ribbon-empty">"No alert is firing."</p>
                }.into_any(),
                (_, firing) => firing.into_iter().map(|a| {
                    let href = Page::Entity { layer: a.layer, entity: a.entity.clone() }.href();
                    view! {
                        <a class="ribbon-alert" href=href data-testid=format!("ribbon-{}", a.id)>
                            <strong>{a.rule.clone()}</strong>
                            " " {a.layer.as_str()} " " {a.entity.clone()} " "
                            {format::metric_value(&a.metric, a.value)}
                            {a.acknowledged.then_some(" (acknowledged)")}
                        </a>
                    }
                }).collect_view().into_any(),
            }}
        </section>
    }
}

/// Files or objects not read yet, malformed records and how far the windows are behind.
#[component]
fn IngestHealth() -> impl IntoView {
    let report = load::<IngestReport>(|| "/api/ingest".to_owned());
    let partitions = load::<Vec<PartitionStatus>>(|| "/api/partitions".to_owned());
    // Records the partitions' consumers have still to make durable, over every partition
    // whose lag the broker told; unknown while none did.
    let lag = move || match partitions.get() {
        Load::Ready(p) => {
            let known: Vec<i64> = p.iter().filter_map(|p| p.lag).collect();
            if known.is_empty() {
                "—".to_owned()
            } else {
                known.iter().sum::<i64>().to_string()
            }
        }
        _ => "…".to_owned(),
    };
    view! {
        <section class="ingest-health" data-testid="ingest-health">
            <h2><a href="/ingest">"Ingest"</a></h2>
            {move || view_load(&report.get(), "ingest status", |_| false, |r| {
                let behind = r.files.iter().filter(|f| f.status != "done").count();
                view! {
                    <dl class="summary">
                        <div><dt>"files or objects behind"</dt>
                            <dd data-testid="ingest-behind">{behind}</dd></div>
                        <div><dt>"records"</dt><dd>{r.records_total}</dd></div>
                        <div><dt>"malformed records"</dt>
                            <dd data-testid="ingest-errors">{r.errors_total}</dd></div>
                        <div><dt>"partition lag (records)"</dt>
                            <dd data-testid="ingest-lag">{lag}</dd></div>
                    </dl>
                }.into_any()
            })}
        </section>
    }
}
