//! `/admin/groups`: precursor groups, entities whose anomalies on a lower layer explain an
//! alert on a higher one (a switch port and the service behind it).

use leptos::prelude::*;

use super::{change, AdminOnly, Outcome};
use crate::model::route::encode;
use crate::model::wire::{EntityGroup, GroupBody};
use crate::remote::{load, view_load};
use crate::session::use_session;

#[component]
pub fn GroupsPage() -> impl IntoView {
    view! { <AdminOnly><Groups /></AdminOnly> }
}

#[component]
fn Groups() -> impl IntoView {
    let session = use_session();
    let reload = RwSignal::new(0_u32);
    let list = load::<Vec<EntityGroup>>(move || {
        reload.get();
        "/api/groups".to_owned()
    });
    let name = RwSignal::new(String::new());
    let entities = RwSignal::new(String::new());
    let outcome = RwSignal::new(None);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let group = name.get_untracked().trim().to_owned();
        let body = GroupBody {
            entities: entities
                .get_untracked()
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
        };
        leptos::task::spawn_local(async move {
            let result = change(
                session,
                "PUT",
                &format!("/api/groups/{}", encode(&group)),
                Some(&body),
            )
            .await
            .map(|_| format!("Saved group {group}."));
            outcome.set(Some(result));
            reload.update(|n| *n += 1);
        });
    };
    let remove = move |group: String| {
        leptos::task::spawn_local(async move {
            let result = change::<()>(
                session,
                "DELETE",
                &format!("/api/groups/{}", encode(&group)),
                None,
            )
            .await
            .map(|_| format!("Deleted group {group}."));
            outcome.set(Some(result));
            reload.update(|n| *n += 1);
        });
    };
    let edit = move |g: EntityGroup| {
        name.set(g.name);
        entities.set(g.entities.join("\n"));
    };
    view! {
        <section class="page-admin">
            <h2 data-testid="page-title">"Precursor groups"</h2>
            {move || view_load(&list.get(), "groups", |l| l.is_empty(), move |groups| view! {
                <table class="data" data-testid="groups-table">
                    <thead><tr><th>"Group"</th><th>"Entities"</th><th></th></tr></thead>
                    <tbody>{groups.into_iter().map(|g| {
                        let (to_edit, to_remove) = (g.clone(), g.name.clone());
                        view! {
                            <tr>
                                <td>{g.name.clone()}</td>
                                <td>{g.entities.join(", ")}</td>
                                <td class="actions">
                                    <button type="button" on:click=move |_| edit(to_edit.clone())>"Edit"</button>
                                    <button type="button" on:click=move |_| remove(to_remove.clone())>"Delete"</button>
                                </td>
                            </tr>
                        }
                    }).collect_view()}</tbody>
                </table>
            }.into_any())}
            <form class="rule-form" on:submit=save>
                <label>"Name "<input required bind:value=name /></label>
                <label>"Entities (one per line) "<textarea rows="4" bind:value=entities></textarea></label>
                <div class="actions"><button type="submit">"Save group"</button></div>
            </form>
            <Outcome outcome />
        </section>
    }
}
