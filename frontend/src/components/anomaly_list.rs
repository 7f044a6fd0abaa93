use layercast_shared::WindowAnomaly;
use leptos::prelude::*;

use crate::api::get_json;
use crate::format::hms_utc;
use crate::live::use_live_feed;

/// Rows shown at most: the newest.
const SHOWN: usize = 20;

/// The newest anomalies the live detectors found (`GET /api/anomalies`), read again whenever
/// the live feed announces new ones.
#[component]
pub fn AnomalyList() -> impl IntoView {
    let feed = use_live_feed();
    let rows: RwSignal<Option<Result<Vec<WindowAnomaly>, String>>> = RwSignal::new(None);
    Effect::new(move |_| {
        // Tracked: every pushed anomaly reloads the list.
        feed.anomalies_seen.get();
        leptos::task::spawn_local(async move {
            rows.set(Some(get_json::<Vec<WindowAnomaly>>("/api/anomalies").await));
        });
    });

    view! {
        <section class="anomalies" data-testid="anomalies">
            <h2>"Anomalies"</h2>
            {move || match rows.get() {
                None => view! { <p class="empty">"loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error">{format!("cannot load the anomalies: {e}")}</p> }.into_any(),
                Some(Ok(list)) if list.is_empty() => {
                    view! { <p class="empty">"none in the last 24 hours"</p> }.into_any()
                }
                Some(Ok(list)) => view! {
                    <table class="windows">
                        <thead>
                            <tr>
                                <th scope="col">"window (UTC)"</th>
                                <th scope="col">"layer"</th>
                                <th scope="col">"entity"</th>
                                <th scope="col">"metric"</th>
                                <th scope="col" class="num">"value"</th>
                                <th scope="col" class="num">"score"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {list.into_iter().take(SHOWN).map(|a| view! {
                                <tr>
                                    <td>{hms_utc(a.start_ms)}</td>
                                    <td>{a.layer.as_str()}</td>
                                    <td>{a.entity}</td>
                                    <td>{a.metric.as_str()}</td>
                                    <td class="num">{format!("{:.1}", a.value)}</td>
                                    <td class="num">{format!("{:.2}", a.score)}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            }}
        </section>
    }
}
