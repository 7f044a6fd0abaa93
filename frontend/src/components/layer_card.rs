use layercast_shared::OsiLayer;
use leptos::prelude::*;

use crate::components::{Chart, WindowTable};
use crate::format::{self, hms_utc, human_bytes};
use crate::live::use_live_feed;
use crate::model::chart_data::sparkline_spec;
use crate::model::overview::{trend_arrow, LayerSummary};
use crate::model::route::Page;
use crate::model::runway::runway_text;

/// One OSI layer: the totals of its newest window in large type, then its recent windows,
/// or "no data yet" until the server has sent any.
#[component]
pub fn LayerCard(
    /// The layer this card shows.
    layer: OsiLayer,
    /// Throughput, error rate, sparkline, trend, runway and anomalies of the layer.
    #[prop(into)]
    summary: Signal<LayerSummary>,
) -> impl IntoView {
    let history = use_live_feed().history(layer);
    let id = layer.as_str();
    let latest = Memo::new(move |_| history.with(|h| h.latest().cloned()));
    // The test ids hold plain integers ("0" before any data), so tests and scrapers need
    // no parsing; the human-readable size sits beside them.
    let events = move || latest.get().map_or(0, |w| w.events).to_string();
    let bytes = move || latest.get().map_or(0, |w| w.bytes);
    let window_label = move || {
        latest
            .get()
            .map(|w| format!("window {}–{} UTC", hms_utc(w.start_ms), hms_utc(w.end_ms)))
    };
    let is_empty = move || history.with(|h| h.is_empty());
    let throughput =
        move || summary.with(|s| s.bytes_per_s.map_or("—".to_owned(), format::bits_per_s));
    let provisional = move || summary.with(|s| s.bytes_per_s.is_some() && !s.is_final);
    let error_rate = move || summary.with(|s| format::percent(s.error_rate));
    let latency = move || summary.with(|s| format::latency_ms(s.latency_p95_ms));
    let trend = move || {
        summary.with(|s| {
            s.trend.as_ref().map_or("no trend yet".to_owned(), |t| {
                format!(
                    "{} {}",
                    trend_arrow(&t.direction),
                    format::slope_per_day(&t.metric, t.slope_per_day)
                )
            })
        })
    };
    let runway = move || {
        summary.with(|s| {
            s.runway.as_ref().map_or("no capacity set".to_owned(), |r| {
                format!("{} ({})", runway_text(r), r.entity)
            })
        })
    };
    let anomalies = move || summary.with(|s| s.anomalies);
    let sparkline = Signal::derive(move || summary.with(|s| s.sparkline.clone()));

    view! {
        <article class="layer-card" data-testid=format!("layer-{id}")>
            <header>
                <span class="layer-id">{id}</span>
                <h2><a href=Page::Layer(layer).href() data-testid=format!("open-{id}")>{layer.title()}</a></h2>
            </header>
            <dl class="latest">
                <div>
                    <dt>"events"</dt>
                    <dd data-testid=format!("events-{id}")>{events}</dd>
                </div>
                <div>
                    <dt>"bytes"</dt>
                    <dd>
                        <span data-testid=format!("bytes-{id}")>{move || bytes().to_string()}</span>
                        <small>{move || human_bytes(bytes())}</small>
                    </dd>
                </div>
            </dl>
            <dl class="summary">
                <div>
                    <dt>"throughput"</dt>
                    <dd data-testid=format!("throughput-{id}") class:provisional=provisional
                        title=move || if provisional() { "provisional: the window is still open" } else { "" }>
                        {throughput}
                    </dd>
                </div>
                <div>
                    <dt>"latency p95"</dt>
                    <dd data-testid=format!("latency-{id}")>{latency}</dd>
                </div>
                <div>
                    <dt>"error rate"</dt>
                    <dd data-testid=format!("error-rate-{id}")>{error_rate}</dd>
                </div>
                <div>
                    <dt>"trend"</dt>
                    <dd data-testid=format!("trend-{id}")>{trend}</dd>
                </div>
                <div>
                    <dt>"runway"</dt>
                    <dd data-testid=format!("runway-{id}")>{runway}</dd>
                </div>
            </dl>
            <Show when=move || { anomalies() > 0 }>
                <span class="badge warn" data-testid=format!("anomaly-badge-{id}")>
                    {move || format!("{} anomalies in the last hour", anomalies())}
                </span>
            </Show>
            <Chart id=format!("spark-{id}") spec=sparkline_spec(&format!("{id} throughput"), "bit/s")
                data=sparkline />
            <p class="window-label">{window_label}</p>
            <Show
                when=is_empty
                fallback=move || view! { <WindowTable history /> }
            >
                <p class="empty" data-testid=format!("empty-{id}")>"no data yet"</p>
            </Show>
        </article>
    }
}
