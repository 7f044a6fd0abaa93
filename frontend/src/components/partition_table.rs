use std::time::Duration;

use layercast_shared::{LateReport, PartitionStatus};
use leptos::prelude::*;

use crate::api::get_json;
use crate::format::hms_utc;

/// How often the table asks the server again: the lag of a busy partition moves by the second.
const REFRESH: Duration = Duration::from_secs(2);

/// Every partition of the events topic: the node that made it durable last, the offset stored
/// with its windows, the broker's log end, the lag between them and the event-time watermark
/// (`GET /api/partitions`), and the records dropped as too late (`GET /api/late`); refreshed
/// every two seconds.
#[component]
pub fn PartitionTable() -> impl IntoView {
    let rows: RwSignal<Option<Result<Vec<PartitionStatus>, String>>> = RwSignal::new(None);
    let late: RwSignal<Option<u64>> = RwSignal::new(None);
    let refresh = move || {
        leptos::task::spawn_local(async move {
            rows.set(Some(
                get_json::<Vec<PartitionStatus>>("/api/partitions").await,
            ));
            late.set(
                get_json::<LateReport>("/api/late")
                    .await
                    .ok()
                    .map(|r| r.total),
            );
        })
    };
    refresh();
    if let Ok(handle) = set_interval_with_handle(refresh, REFRESH) {
        on_cleanup(move || handle.clear());
    }

    view! {
        <section class="partitions" data-testid="partitions">
            <h2>"Partitions"</h2>
            <p class="late">
                "records dropped as too late: "
                <span data-testid="late-total">{move || late.get().map_or_else(|| "–".to_owned(), |n| n.to_string())}</span>
            </p>
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
                                <th scope="col" class="num">"watermark (UTC)"</th>
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
                                        <td class="num">{p.watermark_ms.map_or_else(|| "–".to_owned(), hms_utc)}</td>
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
