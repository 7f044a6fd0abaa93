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
    let at_login_path = web_sys::window()
        .and_then(|w| w.location().pathname().ok())
        .is_some_and(|p| p == "/login");
    let page = move || {
        let me = session.me.get();
        let signed_in = me.as_ref().is_some_and(|m| m.name.is_some());
        match me {
            None => match session.error.get() {
                Some(e) => view! { <p class="load-error">"The server does not answer: " {e}</p> }
                    .into_any(),
                None => view! { <p class="loading">"Loading…"</p> }.into_any(),
            },
            Some(me) if me.role.is_none() || (at_login_path && !signed_in) => {
                view! { <Login /> }.into_any()
            }
            Some(_) => {
                if at_login_path {
                    if let Some(w) = web_sys::window() {
                        let _ = w.history().and_then(|h| {
                            h.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some("/"))
                        });
                    }
                }
                view! { <Live /> }.into_any()
            }
        }
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
