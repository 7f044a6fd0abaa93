//! `/admin/users`: who may log in, with which role.

use layercast_shared::{NewUser, Role, User, UserUpdate};
use leptos::prelude::*;

use super::{change, AdminOnly, Outcome};
use crate::format;
use crate::model::route::encode;
use crate::remote::{load, view_load};
use crate::session::use_session;

#[component]
pub fn UsersPage() -> impl IntoView {
    view! { <AdminOnly><Users /></AdminOnly> }
}

#[component]
fn Users() -> impl IntoView {
    let session = use_session();
    let reload = RwSignal::new(0_u32);
    let list = load::<Vec<User>>(move || {
        reload.get();
        "/api/users".to_owned()
    });
    let name = RwSignal::new(String::new());
    let role = RwSignal::new("viewer".to_owned());
    let password = RwSignal::new(String::new());
    let outcome = RwSignal::new(None);
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = NewUser {
            name: name.get_untracked(),
            role: role.get_untracked().parse().unwrap_or(Role::Viewer),
            password: password.get_untracked(),
        };
        leptos::task::spawn_local(async move {
            let who = body.name.clone();
            let result = change(session, "POST", "/api/users", Some(&body))
                .await
                .map(|_| {
                    password.set(String::new());
                    format!("Created user {who}.")
                });
            outcome.set(Some(result));
            reload.update(|n| *n += 1);
        });
    };
    let set_role = move |user: String, role: Role| {
        leptos::task::spawn_local(async move {
            let body = UserUpdate {
                role: Some(role),
                password: None,
            };
            let result = change(
                session,
                "PUT",
                &format!("/api/users/{}", encode(&user)),
                Some(&body),
            )
            .await
            .map(|_| format!("{user} is now {role}."));
            outcome.set(Some(result));
            reload.update(|n| *n += 1);
        });
    };
    let remove = move |user: String| {
        leptos::task::spawn_local(async move {
            let result = change::<()>(
                session,
                "DELETE",
                &format!("/api/users/{}", encode(&user)),
                None,
            )
            .await
            .map(|_| format!("Deleted user {user}."));
            outcome.set(Some(result));
            reload.update(|n| *n += 1);
        });
    };
    view! {
        <section class="page-admin">
            <h2 data-testid="page-title">"Users"</h2>
            {move || view_load(&list.get(), "users", |l| l.is_empty(), move |users| view! {
                <table class="data" data-testid="users-table">
                    <thead><tr><th>"Name"</th><th>"Role"</th><th>"Created"</th><th>"Last login"</th><th></th></tr></thead>
                    <tbody>{users.into_iter().map(|u| {
                        let (n1, n2) = (u.name.clone(), u.name.clone());
                        let other = if u.role == Role::Admin { Role::Viewer } else { Role::Admin };
                        view! {
                            <tr data-testid=format!("user-{}", u.name)>
                                <td>{u.name.clone()}</td>
                                <td>{u.role.as_str()}</td>
                                <td>{format::datetime_utc(u.created_ms)}</td>
                                <td>{u.last_login_ms.map_or("never".to_owned(), format::datetime_utc)}</td>
                                <td class="actions">
                                    <button type="button" on:click=move |_| set_role(n1.clone(), other)>{format!("Make {other}")}</button>
                                    <button type="button" on:click=move |_| remove(n2.clone())>"Delete"</button>
                                </td>
                            </tr>
                        }
                    }).collect_view()}</tbody>
                </table>
            }.into_any())}
            <h3>"New user"</h3>
            <form class="inline-form" on:submit=create data-testid="user-form">
                <label>"Name "<input required name="new-name" autocomplete="off" bind:value=name /></label>
                <label>"Role "<select bind:value=role>
                    <option value="viewer">"viewer"</option>
                    <option value="admin">"admin"</option>
                </select></label>
                <label>"Password (12 characters or more) "<input required type="password" name="new-password"
                    autocomplete="new-password" minlength="12" bind:value=password /></label>
                <button type="submit">"Create"</button>
            </form>
            <Outcome outcome />
        </section>
    }
}
