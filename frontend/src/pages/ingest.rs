//! `/ingest`: per file or object, its state, records and errors, and the newest malformed
//! lines with why they were refused.

use layercast_shared::IngestReport;
use leptos::prelude::*;

use crate::format;
use crate::remote::{load, view_load};

#[component]
pub fn IngestPage() -> impl IntoView {
    let report = load::<IngestReport>(|| "/api/ingest".to_owned());
    view! {
        <section class="page-ingest">
            <h2 data-testid="page-title">"Ingest"</h2>
            {move || view_load(&report.get(), "ingest status", |_| false, |r| view! {
                <p class="muted">{format!("{} records, {} refused", r.records_total, r.errors_total)}</p>
                <h3>"Files and objects"</h3>
                {if r.files.is_empty() {
                    view! { <p class="state empty" data-testid="state-empty">"No file or object read yet."</p> }.into_any()
                } else {
                    view! {
                        <table class="data" data-testid="ingest-files">
                            <thead><tr><th>"Name"</th><th>"State"</th><th>"Records"</th><th>"Errors"</th><th>"Node"</th><th>"Size"</th></tr></thead>
                            <tbody>{r.files.iter().map(|f| view! {
                                <tr>
                                    <td>{f.name.clone()}</td>
                                    <td>{f.status.clone()}</td>
                                    <td class="num">{f.records}</td>
                                    <td class="num">{f.errors}</td>
                                    <td>{f.node.clone()}</td>
                                    <td class="num">{format::human_bytes(f.size)}</td>
                                </tr>
                            }).collect_view()}</tbody>
                        </table>
                    }.into_any()
                }}
                <h3>"Malformed records"</h3>
                {if r.error_samples.is_empty() {
                    view! { <p class="state empty">"None."</p> }.into_any()
                } else {
                    view! {
                        <table class="data" data-testid="ingest-errors-table">
                            <thead><tr><th>"File"</th><th>"Line"</th><th>"Why"</th></tr></thead>
                            <tbody>{r.error_samples.iter().map(|s| view! {
                                <tr><td>{s.file.clone()}</td><td class="num">{s.line}</td><td>{s.reason.clone()}</td></tr>
                            }).collect_view()}</tbody>
                        </table>
                    }.into_any()
                }}
            }.into_any())}
        </section>
    }
}
