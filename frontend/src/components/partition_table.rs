use std::time::Duration;

use layercast_shared::PartitionStatus;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// How often the table asks the server again: the lag of a busy partition moves by the second.
const REFRESH: Duration = Duration::from_secs(2);

/// Every partition of the events topic: the node that made it durable last, the offset stored
/// with its windows, the broker's log end and the lag between them (`GET /api/partitions`,
/// refreshed every two seconds).
#[component]
pub fn PartitionTable() -> impl IntoView {
    let rows: RwSignal<Option<Result<Vec<PartitionStatus>, String>>> = RwSignal::new(None);
    let refresh = move || {
        leptos::task::spawn_local(async move {
            rows.set(Some(fetch_partitions().await));
        })
    };
    refresh();
    if let Ok(handle) = set_interval_with_handle(refresh, REFRESH) {
        on_cleanup(move || handle.clear());
    }

    view! {
        <section class="partitions" data-testid="partitions">
            <h2>"Partitions"</h2>
            {move || match rows.get() {
                None => view! { <p class="empty">"loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error">{format!("cannot load the partitions: {e}")}</p> }.into_any(),
                Some(Ok(list)) if list.is_empty() => {
                    view! { <p class="empty">"no partitions yet"</p> }.into_any()
                }
                Some(Ok(list)) => view! {
                    <table class="windows">
                        <thead>
                            <tr>
                                <th scope="col">"partition"</th>
                                <th scope="col">"owner"</th>
                                <th scope="col" class="num">"durable offset"</th>
                                <th scope="col" class="num">"log end"</th>
                                <th scope="col" class="num">"lag"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {list.into_iter().map(|p| {
                                let owner = match (&p.owner, p.owned_here) {
                                    (Some(o), true) => format!("{o} (this node)"),
                                    (Some(o), false) => o.clone(),
                                    (None, _) => "–".to_owned(),
                                };
                                let show = |v: Option<i64>| v.map_or_else(|| "–".to_owned(), |v| v.to_string());
                                view! {
                                    <tr data-testid=format!("partition-{}", p.partition)>
                                        <td>{p.partition}</td>
                                        <td>{owner}</td>
                                        <td class="num">{show(p.durable_offset)}</td>
                                        <td class="num">{show(p.log_end_offset)}</td>
                                        <td class="num" data-testid=format!("lag-{}", p.partition)>{show(p.lag)}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            }}
        </section>
    }
}

async fn fetch_partitions() -> Result<Vec<PartitionStatus>, String> {
    let js = |e: wasm_bindgen::JsValue| format!("{e:?}");
    let window = web_sys::window().ok_or("no window")?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str("/api/partitions"))
        .await
        .map_err(js)?
        .dyn_into()
        .map_err(js)?;
    if !response.ok() {
        return Err(format!("HTTP {}", response.status()));
    }
    let text = JsFuture::from(response.text().map_err(js)?).await.map_err(js)?;
    let text = text.as_string().ok_or("the answer is not text")?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}
