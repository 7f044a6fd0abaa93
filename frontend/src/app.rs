//! The root component: asks who is logged in, then shows the login page or the dashboard with
//! its live feed.

use leptos::prelude::*;

use crate::live::provide_live_feed;
use crate::pages::dashboard::Dashboard;
use crate::pages::login::Login;
use crate::session::provide_session;

/// The login page at `/login`, and wherever the server wants credentials before anything can
/// be seen (`auth.anonymous_viewer` off).
#[component]
pub fn App() -> impl IntoView {
    let session = provide_session();
    let at_login = RwSignal::new(
        web_sys::window()
            .and_then(|w| w.location().pathname().ok())
            .is_some_and(|p| p == "/login"),
    );
    // Logged in on the login page: on to the dashboard, at its own address.
    Effect::new(move |_| {
        let signed_in = session.me.get().is_some_and(|m| m.name.is_some());
        if at_login.get() && signed_in {
            if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
                let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some("/"));
            }
            at_login.set(false);
        }
    });
    let page = move || match session.me.get() {
        None => match session.error.get() {
            Some(e) => {
                view! { <p class="load-error">"The server does not answer: " {e}</p> }.into_any()
            }
            None => view! { <p class="loading">"Loading…"</p> }.into_any(),
        },
        Some(me) if me.role.is_none() || (at_login.get() && me.name.is_none()) => {
            view! { <Login /> }.into_any()
        }
        Some(_) => view! { <Live /> }.into_any(),
    };
    view! { {page} }
}

/// The signed-in app: the live feed is opened once, here, so that every page reads the same
/// socket through context.
#[component]
fn Live() -> impl IntoView {
    provide_live_feed();
    view! { <Dashboard /> }
}
