//! The header's corner: who is logged in, with which role, and logout (or a login link for an
//! anonymous viewer).

use leptos::prelude::*;

use crate::session::use_session;

#[component]
pub fn UserMenu() -> impl IntoView {
    let session = use_session();
    let who = move || {
        session.me.get().map(|me| match (&me.name, me.role) {
            (Some(name), Some(role)) => format!("{name} ({role})"),
            _ => "anonymous viewer".to_owned(),
        })
    };
    let signed_in = move || {
        session
            .me
            .get()
            .is_some_and(|m| m.name.is_some() && m.via == "session")
    };
    view! {
        <span class="user" data-testid="user">{who}</span>
        <Show
            when=signed_in
            fallback=move || view! {
                <a class="login-link" href="/login">"Log in"</a>
            }
        >
            <button class="logout" on:click=move |_| session.logout()>"Log out"</button>
        </Show>
    }
}
