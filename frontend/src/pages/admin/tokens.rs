//! `/admin/tokens`: API tokens for scripts and other systems; a new token is shown once.

use layercast_shared::{ApiToken, CreatedToken, NewToken, Role};
use leptos::prelude::*;

use super::{change, AdminOnly, Outcome};
use crate::api;
use crate::format;
use crate::remote::{load, view_load};
use crate::session::use_session;

#[component]
pub fn TokensPage() -> impl IntoView {
    view! { <AdminOnly><Tokens /></AdminOnly> }
}

#[component]
fn Tokens() -> impl IntoView {
    let session = use_session();
    let reload = RwSignal::new(0_u32);
    let list = load::<Vec<ApiToken>>(move || {
        reload.get();
        "/api/tokens".to_owned()
    });
    let name = RwSignal::new(String::new());
    let role = RwSignal::new("viewer".to_owned());
    let expires = RwSignal::new("30d".to_owned());
    let created = RwSignal::new(None::<String>);
    let outcome = RwSignal::new(None);
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = NewToken {
            name: name.get_untracked(),
            role: role.get_untracked().parse().unwrap_or(Role::Viewer),
            expires_in: Some(expires.get_untracked()).filter(|e| !e.trim().is_empty()),
        };
        leptos::task::spawn_local(async move {
            match api::send_for::<_, CreatedToken>(
                "POST",
                "/api/tokens",
                Some(&body),
                session.csrf().as_deref(),
            )
            .await
            {
                Ok(t) => {
                    created.set(Some(t.token));
                    outcome.set(Some(Ok(format!(
                        "Created token {}. Copy it now: it is not shown again.",
                        t.info.name
                    ))));
                }
                Err(e) => outcome.set(Some(Err(e.message))),
            }
            reload.update(|n| *n += 1);
        });
    };
    let revoke = move |id: i64| {
        leptos::task::spawn_local(async move {
            let result = change::<()>(session, "DELETE", &format!("/api/tokens/{id}"), None)
                .await
                .map(|_| format!("Revoked token {id}."));
            outcome.set(Some(result));
            reload.update(|n| *n += 1);
        });
    };
    view! {
        <section class="page-admin">
            <h2 data-testid="page-title">"API tokens"</h2>
            {move || view_load(&list.get(), "tokens", |l| l.is_empty(), move |tokens| view! {
                <table class="data" data-testid="tokens-table">
                    <thead><tr><th>"Name"</th><th>"Role"</th><th>"Starts with"</th><th>"By"</th><th>"Expires"</th><th>"Last used"</th><th></th></tr></thead>
                    <tbody>{tokens.into_iter().map(|t| {
                        let id = t.id;
                        view! {
                            <tr class:revoked=t.revoked>
                                <td>{t.name.clone()}</td>
                                <td>{t.role.as_str()}</td>
                                <td><code>{t.prefix.clone()}</code></td>
                                <td>{t.created_by.clone()}</td>
                                <td>{t.expires_ms.map_or("never".to_owned(), format::datetime_utc)}</td>
                                <td>{t.last_used_ms.map_or("never".to_owned(), format::datetime_utc)}</td>
                                <td>{if t.revoked {
                                    view! { <span>"revoked"</span> }.into_any()
                                } else {
                                    view! { <button type="button" on:click=move |_| revoke(id)>"Revoke"</button> }.into_any()
                                }}</td>
                            </tr>
                        }
                    }).collect_view()}</tbody>
                </table>
            }.into_any())}
            <h3>"New token"</h3>
            <form class="inline-form" on:submit=create>
                <label>"Name "<input required bind:value=name /></label>
                <label>"Role "<select bind:value=role>
                    <option value="viewer">"viewer"</option>
                    <option value="admin">"admin"</option>
                </select></label>
                <label>"Valid for (30d, 12h; empty: until revoked) "<input bind:value=expires /></label>
                <button type="submit">"Create"</button>
            </form>
            <Outcome outcome />
            {move || created.get().map(|t| view! { <p class="new-token">"Token: " <code data-testid="new-token">{t}</code></p> })}
        </section>
    }
}
