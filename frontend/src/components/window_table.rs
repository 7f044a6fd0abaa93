use leptos::prelude::*;

use crate::format::hms_utc;
use crate::history::LayerHistory;

/// The windows one layer keeps (see [`crate::history::HISTORY_LEN`]), newest first.
#[component]
pub fn WindowTable(
    /// The layer's history, from [`crate::live::LiveFeed::history`].
    history: ReadSignal<LayerHistory>,
) -> impl IntoView {
    view! {
        <table class="windows">
            <thead>
                <tr>
                    <th scope="col">"start (UTC)"</th>
                    <th scope="col" class="num">"events"</th>
                    <th scope="col" class="num">"bytes"</th>
                </tr>
            </thead>
            <tbody>
                <For
                    each=move || history.with(|h| h.windows().to_vec())
                    // A window's totals change under the same start, so they are part of
                    // the key: a row whose totals changed is rendered anew.
                    key=|w| (w.start_ms, w.events, w.bytes)
                    children=|w| {
                        view! {
                            <tr>
                                <td>{hms_utc(w.start_ms)}</td>
                                <td class="num">{w.events.to_string()}</td>
                                <td class="num">{w.bytes.to_string()}</td>
                            </tr>
                        }
                    }
                />
            </tbody>
        </table>
    }
}
