//! `/entities/{layer}/{entity}`: every layer of one entity on one time axis (zoom 1 h, 1 d,
//! 7 d, 30 d from the roll-ups): its throughput, forecast with its band, capacity line and
//! anomalies. The charts are redrawn in place whenever a window of the layer closes.

use std::collections::BTreeMap;

use layercast_shared::{
    Alert, AlertStatus, Forecast, OsiLayer, SeriesTrend, SeriesWindow, WindowAnomaly,
};
use leptos::prelude::*;
use leptos_router::hooks::{use_location, use_query_map};

use crate::api;
use crate::components::Chart;
use crate::format;
use crate::live::use_live_feed;
use crate::model::chart_data::{entity_data, entity_spec};
use crate::model::layer_table::PLANNED_METRIC;
use crate::model::overview::trend_arrow;
use crate::model::route::{encode, Page};
use crate::model::wire::Capacity;
use crate::model::zoom::Zoom;
use crate::remote::{failure_text, load, now_ms, Load};

#[component]
pub fn EntityPage() -> impl IntoView {
    let location = use_location();
    let query = use_query_map();
    let target = Memo::new(move |_| match Page::parse(&location.pathname.get()) {
        Some(Page::Entity { layer, entity }) => (layer, entity),
        _ => (OsiLayer::L3, String::new()),
    });
    let zoom = Memo::new(move |_| Zoom::parse(query.with(|q| q.get("zoom")).as_deref()));
    let feed = use_live_feed();
    let windows: RwSignal<Load<Vec<SeriesWindow>>> = RwSignal::new(Load::Loading);
    Effect::new(move |_| {
        let (layer, entity) = target.get();
        let zoom = zoom.get();
        // A window of the layer changed: read the history again (the chart updates in place).
        feed.history(layer).track();
        leptos::task::spawn_local(async move {
            windows.set(fetch_history(layer, &entity, zoom).await);
        });
    });
    let by_layer = Memo::new(move |_| {
        let mut map: BTreeMap<OsiLayer, Vec<SeriesWindow>> = BTreeMap::new();
        if let Load::Ready(rows) = windows.get() {
            for w in rows {
                map.entry(w.layer).or_default().push(w);
            }
        }
        // The page's own layer always has its chart, empty or not.
        map.entry(target.get().0).or_default();
        map
    });
    let layers = Memo::new(move |_| by_layer.with(|m| m.keys().copied().collect::<Vec<_>>()));

    let zoom_links = move || {
        let (layer, entity) = target.get();
        Zoom::ALL
            .into_iter()
            .map(|z| {
                let href = format!("{}?zoom={}", Page::Entity { layer, entity: entity.clone() }.href(), z.slug());
                let current = (zoom.get() == z).then_some("page");
                view! { <a class="zoom" href=href aria-current=current data-testid=format!("zoom-{}", z.slug())>{z.slug()}</a> }
            })
            .collect_view()
    };

    view! {
        <section class="page-entity">
            <h2 data-testid="page-title">{move || { let (l, e) = target.get(); format!("{e} · {l}") }}</h2>
            <nav class="zooms" aria-label="Zoom">{zoom_links}</nav>
            {move || match windows.get() {
                Load::Loading => view! { <p class="state loading" data-testid="state-loading">"Loading the history…"</p> }.into_any(),
                Load::Failed(e) => view! { <p class="state error" data-testid="state-error">"Could not load the history: " {e}</p> }.into_any(),
                Load::Ready(rows) if rows.is_empty() => view! {
                    <p class="state empty" data-testid="state-empty">"No windows of this entity in this span."</p>
                }.into_any(),
                Load::Ready(_) => ().into_any(),
            }}
            <For each=move || layers.get() key=|l| *l let:layer>
                <LayerChart layer entity=Signal::derive(move || target.get().1) zoom
                    history=Signal::derive(move || by_layer.with(|m| m.get(&layer).cloned().unwrap_or_default())) />
            </For>
        </section>
    }
}

/// The entity's history at `zoom`. A backend that does not take `entity=` yet answers 400;
/// then the layer's windows are read and filtered here, which is the same answer for an
/// entity among fewer than 10,000 rows.
async fn fetch_history(layer: OsiLayer, entity: &str, zoom: Zoom) -> Load<Vec<SeriesWindow>> {
    let to = now_ms();
    let from = to - zoom.span_ms();
    let span = format!("len={}&from={from}&to={to}", zoom.len());
    let direct = format!("/api/windows?entity={}&{span}", encode(entity));
    match api::get::<Vec<SeriesWindow>>(&direct).await {
        Ok(rows) => Load::Ready(rows),
        Err(e) if e.status == 400 => {
            match api::get::<Vec<SeriesWindow>>(&format!("/api/windows?layer={layer}&{span}")).await
            {
                Ok(rows) => Load::Ready(rows.into_iter().filter(|w| w.entity == entity).collect()),
                Err(e) => Load::Failed(failure_text(&e)),
            }
        }
        Err(e) => Load::Failed(failure_text(&e)),
    }
}

/// One layer of the entity: its chart, trend and runway.
#[component]
fn LayerChart(
    layer: OsiLayer,
    entity: Signal<String>,
    zoom: Memo<Zoom>,
    history: Signal<Vec<SeriesWindow>>,
) -> impl IntoView {
    let forecast = load::<Forecast>(move || {
        format!(
            "/api/forecast?layer={layer}&entity={}&metric={PLANNED_METRIC}&horizon={}",
            encode(&entity.get()),
            zoom.get().horizon()
        )
    });
    let capacities = load::<Vec<Capacity>>(|| "/api/capacities".to_owned());
    let trends = load::<Vec<SeriesTrend>>(move || {
        format!(
            "/api/trends?layer={layer}&entity={}&metric={PLANNED_METRIC}",
            encode(&entity.get())
        )
    });
    let anomalies = load::<Vec<WindowAnomaly>>(move || {
        let to = now_ms();
        format!(
            "/api/anomalies?layer={layer}&from={}&to={to}",
            to - zoom.get().span_ms()
        )
    });
    let alerts = load::<Vec<Alert>>(|| "/api/alerts?state=all".to_owned());
    let capacity = Memo::new(move |_| {
        let e = entity.get();
        capacities.with(|c| {
            c.ready().and_then(|c| {
                c.iter()
                    .find(|c| c.layer == layer && c.entity == e && c.metric == PLANNED_METRIC)
                    .map(|c| c.capacity)
            })
        })
    });
    let data = Signal::derive(move || {
        let e = entity.get();
        let marks: Vec<WindowAnomaly> = anomalies.with(|a| {
            a.ready()
                .map(|a| a.iter().filter(|a| a.entity == e).cloned().collect())
                .unwrap_or_default()
        });
        let periods: Vec<(i64, i64)> = alerts.with(|a| {
            a.ready()
                .map(|a| {
                    a.iter()
                        .filter(|a| {
                            a.layer == layer && a.entity == e && a.state != AlertStatus::Pending
                        })
                        .map(|a| match a.state {
                            AlertStatus::Resolved => (a.since_ms, a.changed_ms),
                            _ => (a.since_ms, i64::MAX),
                        })
                        .collect()
                })
                .unwrap_or_default()
        });
        forecast.with(|f| entity_data(&history.get(), f.ready(), capacity.get(), &marks, &periods))
    });
    let trend = move || {
        trends.with(|t| match t {
            Load::Ready(t) => t.first().map_or("no trend yet".to_owned(), |t| {
                format!(
                    "{} {} (p = {:.3})",
                    trend_arrow(&t.direction),
                    format::slope_per_day(&t.metric, t.slope_per_day),
                    t.p_value
                )
            }),
            Load::Failed(e) => format!("trend: {e}"),
            Load::Loading => "trend: loading…".to_owned(),
        })
    };
    let runway = move || {
        forecast.with(|f| match f {
            Load::Ready(Forecast {
                runway: Some(r), ..
            }) => format!("runway {}", crate::model::runway::runway_text(r)),
            Load::Ready(_) => "no runway yet".to_owned(),
            Load::Failed(e) => format!("forecast: {e}"),
            Load::Loading => "forecast: loading…".to_owned(),
        })
    };
    // A precursor: the lower-layer anomaly that came before an alert of this chart, as a link
    // to the chart it is on.
    let precursors = move || {
        let e = entity.get();
        alerts.with(|a| {
            a.ready().map(|a| {
                a.iter()
                    .filter(|a| a.layer == layer && a.entity == e)
                    .filter_map(|a| a.precursor.clone().map(|p| (a.rule.clone(), p)))
                    .map(|(rule, p)| {
                        let href = Page::Entity {
                            layer: p.layer,
                            entity: p.entity.clone(),
                        }
                        .href();
                        view! {
                            <a class="precursor" href=href data-testid=format!("precursor-{layer}")>
                                {format!(
                                    "{rule}: preceded by a {} anomaly on {} {}, {} s earlier",
                                    p.metric, p.layer, p.entity, p.lag_ms / 1_000
                                )}
                            </a>
                        }
                    })
                    .collect_view()
            })
        })
    };
    let capacity_text = move || {
        capacity.get().map_or("no capacity".to_owned(), |c| {
            format!("capacity {}", format::bits_per_s(c))
        })
    };
    view! {
        <article class="entity-layer" data-testid=format!("entity-layer-{layer}")>
            <header>
                <span class="layer-id">{layer.as_str()}</span>
                <h3>{layer.title()}</h3>
                <span class="muted" data-testid=format!("trend-{layer}")>{trend}</span>
                <span class="muted" data-testid=format!("runway-{layer}")>{runway}</span>
                <span class="muted">{capacity_text}</span>
            </header>
            {precursors}
            <Chart id=format!("entity-{layer}") spec=entity_spec(&format!("{layer} throughput")) data />
        </article>
    }
}
