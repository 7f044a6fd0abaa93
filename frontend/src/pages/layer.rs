//! `/layers/{layer}`: every entity of the layer in a table, sortable by utilisation, runway,
//! error rate, latency and anomaly score, filtered by a name pattern; a row opens the entity.

use layercast_shared::{OsiLayer, SeriesRunway, SeriesWindow, WindowAnomaly};
use leptos::prelude::*;
use leptos_router::hooks::{use_location, use_navigate};

use crate::format;
use crate::live::use_live_feed;
use crate::model::layer_table::{build_rows, view_rows, SortKey};
use crate::model::route::{encode, Page};
use crate::model::wire::Capacity;
use crate::remote::{load, now_ms, view_load, Load};

/// The windows the table reads: each entity's newest in the last quarter hour. Longer than a
/// window (a quiet entity still has a row), short enough to read few rows.
const RECENT_MS: i64 = 15 * 60_000;

#[component]
pub fn LayerPage() -> impl IntoView {
    let location = use_location();
    let layer = Memo::new(move |_| match Page::parse(&location.pathname.get()) {
        Some(Page::Layer(layer)) => layer,
        _ => OsiLayer::L3,
    });
    let feed = use_live_feed();
    // Reloaded whenever a window of the layer closes, so the table follows the traffic.
    let windows = load::<Vec<SeriesWindow>>(move || {
        let l = layer.get();
        feed.history(l).track();
        format!("/api/windows?layer={l}&from={}", now_ms() - RECENT_MS)
    });
    let capacities = load::<Vec<Capacity>>(|| "/api/capacities".to_owned());
    let runway = load::<Vec<SeriesRunway>>(|| "/api/runway".to_owned());
    let anomalies =
        load::<Vec<WindowAnomaly>>(move || format!("/api/anomalies?layer={}", layer.get()));

    let sort = RwSignal::new(SortKey::Utilisation);
    let descending = RwSignal::new(true);
    let pattern = RwSignal::new(String::new());
    let navigate = use_navigate();

    let rows = Memo::new(move |_| {
        windows.with(|w| match w {
            Load::Ready(w) => Load::Ready(build_rows(
                w,
                capacities
                    .with(|c| c.ready().cloned().unwrap_or_default())
                    .as_slice(),
                runway
                    .with(|r| r.ready().cloned().unwrap_or_default())
                    .as_slice(),
                anomalies
                    .with(|a| a.ready().cloned().unwrap_or_default())
                    .as_slice(),
            )),
            Load::Loading => Load::Loading,
            Load::Failed(e) => Load::Failed(e.clone()),
        })
    });
    let set_sort = move |key: SortKey| {
        if sort.get_untracked() == key {
            descending.update(|d| *d = !*d);
        } else {
            sort.set(key);
            descending.set(key.worst_first());
        }
    };
    let header = move || {
        SortKey::ALL
        .into_iter()
        .map(|key| {
            let aria = move || {
                (sort.get() == key).then(|| if descending.get() { "descending" } else { "ascending" })
            };
            view! {
                <th aria-sort=aria>
                    <button type="button" class="sort" data-testid=format!("sort-{}", key.slug())
                        on:click=move |_| set_sort(key)>{key.title()}</button>
                </th>
            }
        })
        .collect_view()
    };

    view! {
        <section class="page-layer">
            <h2 data-testid="page-title">{move || format!("{} · {}", layer.get(), layer.get().title())}</h2>
            <label class="filter">
                "Filter by name "
                <input type="search" placeholder="core-* or 10.0.?" data-testid="filter"
                    bind:value=pattern />
            </label>
            {move || {
                let navigate = navigate.clone();
                view_load(&rows.get(), "entities on this layer", |r| r.is_empty(), move |all| {
                    let shown = view_rows(&all, &pattern.get(), sort.get(), descending.get());
                    let count = format!("{} of {} entities", shown.len(), all.len());
                    let l = layer.get_untracked();
                    view! {
                        <p class="muted" data-testid="row-count">{count}</p>
                        <table class="data" data-testid="layer-table">
                            <thead><tr>{header()}</tr></thead>
                            <tbody>
                                {shown.into_iter().map(|r| {
                                    let href = format!("/entities/{l}/{}", encode(&r.entity));
                                    let go = href.clone();
                                    let navigate = navigate.clone();
                                    view! {
                                        <tr tabindex="0" class:provisional=!r.is_final
                                            data-testid=format!("row-{}", r.entity)
                                            on:keydown=move |ev| if ev.key() == "Enter" { navigate(&go, Default::default()) }>
                                            <td><a href=href>{r.entity.clone()}</a></td>
                                            <td class="num">{format::bits_per_s(r.bytes_per_s)}</td>
                                            <td class="num">{format::percent(r.utilisation)}</td>
                                            <td class="num">{match r.runway_state.as_deref() {
                                                Some("learning") => "learning".to_owned(),
                                                Some(_) => format::days(r.runway_days),
                                                None => "—".to_owned(),
                                            }}</td>
                                            <td class="num">{format::percent(r.error_rate)}</td>
                                            <td class="num">{format::latency_ms(r.latency_p95_ms)}</td>
                                            <td class="num">{r.anomaly_score.map_or("—".to_owned(), |s| format!("{s:.2}"))}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any()
                })
            }}
        </section>
    }
}
