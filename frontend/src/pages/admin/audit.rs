//! `/admin/audit`: every change, who made it, from where, before and after.

use layercast_shared::AuditEntry;
use leptos::prelude::*;

use super::AdminOnly;
use crate::format;
use crate::remote::{load, view_load};

/// Entries shown: the newest.
const SHOWN: u32 = 200;

#[component]
pub fn AuditPage() -> impl IntoView {
    view! { <AdminOnly><Audit /></AdminOnly> }
}

#[component]
fn Audit() -> impl IntoView {
    let list = load::<Vec<AuditEntry>>(|| format!("/api/audit?limit={SHOWN}"));
    let json =
        |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string()).unwrap_or_default();
    view! {
        <section class="page-admin">
            <h2 data-testid="page-title">"Audit log"</h2>
            {move || view_load(&list.get(), "audit entries", |l| l.is_empty(), move |entries| view! {
                <table class="data" data-testid="audit-table">
                    <thead><tr><th>"At"</th><th>"Who"</th><th>"From"</th><th>"Action"</th><th>"Target"</th><th>"Before"</th><th>"After"</th></tr></thead>
                    <tbody>{entries.into_iter().map(|e| view! {
                        <tr>
                            <td>{format::datetime_utc(e.at_ms)}</td>
                            <td>{e.actor.clone()}</td>
                            <td>{e.address.clone().unwrap_or_default()}</td>
                            <td>{e.action.clone()}</td>
                            <td>{e.target.clone()}</td>
                            <td><code class="json">{json(&e.before)}</code></td>
                            <td><code class="json">{json(&e.after)}</code></td>
                        </tr>
                    }).collect_view()}</tbody>
                </table>
            }.into_any())}
        </section>
    }
}
