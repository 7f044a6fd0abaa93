//! `/admin/capacities`: a capacity per series (edit, delete) and bulk import from CSV.

use layercast_shared::{OsiLayer, METRIC_NAMES};
use leptos::prelude::*;

use super::{change, AdminOnly, Outcome};
use crate::format;
use crate::model::capacity_csv;
use crate::model::route::encode;
use crate::model::wire::{Capacity, CapacityBody};
use crate::remote::{load, view_load};
use crate::session::{use_session, Session};

async fn put(session: Session, c: &Capacity) -> Result<String, String> {
    let body = CapacityBody {
        metric: c.metric.clone(),
        capacity: c.capacity,
    };
    let path = format!("/api/capacities/{}/{}", c.layer, encode(&c.entity));
    change(session, "PUT", &path, Some(&body)).await
}

#[component]
pub fn CapacitiesPage() -> impl IntoView {
    view! { <AdminOnly><Capacities /></AdminOnly> }
}

#[component]
fn Capacities() -> impl IntoView {
    let session = use_session();
    let reload = RwSignal::new(0_u32);
    let list = load::<Vec<Capacity>>(move || {
        reload.get();
        "/api/capacities".to_owned()
    });
    let outcome = RwSignal::new(None);
    let layer = RwSignal::new("L3".to_owned());
    let entity = RwSignal::new(String::new());
    let metric = RwSignal::new("bytes_per_s".to_owned());
    let value = RwSignal::new(String::new());
    let csv = RwSignal::new(String::new());

    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let parsed = capacity_csv::parse(&format!(
            "{},{},{},{}",
            layer.get_untracked(),
            entity.get_untracked(),
            metric.get_untracked(),
            value.get_untracked()
        ));
        leptos::task::spawn_local(async move {
            let result = match parsed.as_deref() {
                Ok([c]) => put(session, c)
                    .await
                    .map(|_| format!("Saved the capacity of {}.", c.entity)),
                Ok(_) => Err("one capacity at a time here; use the import for many".into()),
                Err(e) => Err(e.replace("line 1: ", "")),
            };
            outcome.set(Some(result));
            reload.update(|n| *n += 1);
        });
    };
    let import = move |_| {
        let parsed = capacity_csv::parse(&csv.get_untracked());
        leptos::task::spawn_local(async move {
            let result = match parsed {
                Err(e) => Err(e),
                Ok(all) => {
                    let mut done = 0;
                    let mut failure = None;
                    for c in &all {
                        match put(session, c).await {
                            Ok(_) => done += 1,
                            Err(e) => {
                                failure = Some(format!(
                                    "{} {}: {e} ({done} of {} imported)",
                                    c.layer,
                                    c.entity,
                                    all.len()
                                ));
                                break;
                            }
                        }
                    }
                    failure.map_or(Ok(format!("Imported {done} capacities.")), Err)
                }
            };
            outcome.set(Some(result));
            reload.update(|n| *n += 1);
        });
    };
    let remove = move |c: Capacity| {
        leptos::task::spawn_local(async move {
            let path = format!(
                "/api/capacities/{}/{}?metric={}",
                c.layer,
                encode(&c.entity),
                c.metric
            );
            let result = change::<()>(session, "DELETE", &path, None)
                .await
                .map(|_| format!("Removed the capacity of {}.", c.entity));
            outcome.set(Some(result));
            reload.update(|n| *n += 1);
        });
    };

    view! {
        <section class="page-admin">
            <h2 data-testid="page-title">"Capacities"</h2>
            <form class="inline-form" on:submit=save data-testid="capacity-form">
                <label>"Layer "<select bind:value=layer>
                    {OsiLayer::ALL.map(|l| view! { <option value=l.as_str()>{l.as_str()}</option> }).collect_view()}
                </select></label>
                <label>"Entity "<input required bind:value=entity data-testid="capacity-entity" /></label>
                <label>"Metric "<select bind:value=metric>
                    {METRIC_NAMES.map(|m| view! { <option value=m>{m}</option> }).collect_view()}
                </select></label>
                <label>"Capacity (metric's unit; bytes/s for bytes_per_s) "
                    <input required inputmode="decimal" bind:value=value data-testid="capacity-value" /></label>
                <button type="submit">"Save"</button>
            </form>
            <details>
                <summary>"Import from CSV"</summary>
                <p class="muted">"One line per capacity: layer,entity,metric,capacity (a header line is skipped)."</p>
                <textarea rows="6" bind:value=csv data-testid="capacity-csv"></textarea>
                <button type="button" on:click=import data-testid="capacity-import">"Import"</button>
            </details>
            <Outcome outcome />
            {move || view_load(&list.get(), "capacities", |l| l.is_empty(), move |rows| view! {
                <table class="data" data-testid="capacities-table">
                    <thead><tr><th>"Series"</th><th>"Metric"</th><th>"Capacity"</th><th></th></tr></thead>
                    <tbody>{rows.into_iter().map(|c| {
                        let gone = c.clone();
                        view! {
                            <tr>
                                <td>{format!("{} {}", c.layer, c.entity)}</td>
                                <td>{c.metric.clone()}</td>
                                <td class="num">{format::metric_value(&c.metric, c.capacity)}</td>
                                <td><button type="button" on:click=move |_| remove(gone.clone())>"Delete"</button></td>
                            </tr>
                        }
                    }).collect_view()}</tbody>
                </table>
            }.into_any())}
        </section>
    }
}
