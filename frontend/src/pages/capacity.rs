//! `/capacity`: days until full of every series with a capacity, full first, then the
//! soonest; exported as CSV.

use layercast_shared::SeriesRunway;
use leptos::prelude::*;

use crate::download::save_text;
use crate::format;
use crate::live::use_live_feed;
use crate::model::route::Page;
use crate::model::runway::{csv, rank, runway_text};
use crate::remote::{load, view_load, Load};

#[component]
pub fn CapacityPage() -> impl IntoView {
    let feed = use_live_feed();
    let loaded = load::<Vec<SeriesRunway>>(|| "/api/runway".to_owned());
    // Live runway changes replace the loaded value of their series.
    let ranked = Memo::new(move |_| {
        loaded.with(|l| match l {
            Load::Ready(rows) => {
                let live = feed.runway.get();
                let mut all: Vec<SeriesRunway> = rows
                    .iter()
                    .filter(|r| {
                        !live.contains_key(&crate::live::series_key(r.layer, &r.entity, &r.metric))
                    })
                    .cloned()
                    .collect();
                all.extend(live.into_values());
                Load::Ready(rank(all))
            }
            Load::Loading => Load::Loading,
            Load::Failed(e) => Load::Failed(e.clone()),
        })
    });
    let export = move |_| {
        if let Load::Ready(rows) = ranked.get_untracked() {
            if let Err(e) = save_text("layercast-runway.csv", "text/csv", &csv(&rows)) {
                leptos::logging::warn!("CSV export: {e:?}");
            }
        }
    };
    view! {
        <section class="page-capacity">
            <h2 data-testid="page-title">"Capacity: days until full"</h2>
            <button type="button" data-testid="export-csv" on:click=export
                disabled=move || ranked.with(|r| r.ready().is_none_or(|r| r.is_empty()))>"Export CSV"</button>
            {move || view_load(&ranked.get(), "series with a capacity", |r| r.is_empty(), |rows| view! {
                <table class="data" data-testid="runway-table">
                    <thead><tr><th>"Series"</th><th>"Metric"</th><th>"Now"</th><th>"Capacity"</th><th>"Runway"</th></tr></thead>
                    <tbody>{rows.into_iter().map(|r| {
                        let href = Page::Entity { layer: r.layer, entity: r.entity.clone() }.href();
                        view! {
                            <tr class=format!("runway-{}", r.state)>
                                <td><a href=href>{format!("{} {}", r.layer, r.entity)}</a></td>
                                <td>{r.metric.clone()}</td>
                                <td class="num">{format::metric_value(&r.metric, r.current)}</td>
                                <td class="num">{format::metric_value(&r.metric, r.capacity)}</td>
                                <td class="num">{runway_text(&r)}</td>
                            </tr>
                        }
                    }).collect_view()}</tbody>
                </table>
            }.into_any())}
        </section>
    }
}
