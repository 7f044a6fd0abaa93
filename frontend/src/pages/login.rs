//! The login page: shown instead of the dashboard when the server wants a login.

use leptos::prelude::*;

use crate::session::use_session;

#[component]
pub fn Login() -> impl IntoView {
    let session = use_session();
    let name = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        let (n, p) = (name.get_untracked(), password.get_untracked());
        leptos::task::spawn_local(async move {
            match session.login(n, p).await {
                Ok(()) => error.set(None),
                Err(e) => {
                    error.set(Some(e));
                    password.set(String::new());
                }
            }
            busy.set(false);
        });
    };
    view! {
        <main class="login">
            <form class="login-form" on:submit=submit>
                <h1>"LayerCast"</h1>
                <p>"Log in to see the live traffic."</p>
                <label>
                    "User name"
                    <input type="text" name="name" autocomplete="username" required
                        bind:value=name />
                </label>
                <label>
                    "Password"
                    <input type="password" name="password" autocomplete="current-password" required
                        bind:value=password />
                </label>
                <Show when=move || error.get().is_some()>
                    <p class="login-error" role="alert">{move || error.get().unwrap_or_default()}</p>
                </Show>
                <button type="submit" disabled=move || busy.get()>"Log in"</button>
            </form>
        </main>
    }
}
