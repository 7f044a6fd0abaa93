use layercast_shared::OsiLayer;
use leptos::prelude::*;

use crate::components::WindowTable;
use crate::format::{hms_utc, human_bytes};
use crate::live::use_live_feed;

/// One OSI layer: the totals of its newest window in large type, then its recent windows,
/// or "no data yet" until the server has sent any.
#[component]
pub fn LayerCard(
    /// The layer this card shows.
    layer: OsiLayer,
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

    view! {
        <article class="layer-card" data-testid=format!("layer-{id}")>
            <header>
                <span class="layer-id">{id}</span>
                <h2>{layer.title()}</h2>
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
