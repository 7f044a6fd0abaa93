//! The root component: asks who is logged in, then shows the login page or the app: the
//! header and the page the address names (client-side routes, see `model/route.rs`).

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::hooks::use_navigate;
use leptos_router::path;

use crate::components::Shell;
use crate::live::provide_live_feed;
use crate::pages::admin::{
    AuditPage, CapacitiesPage, GroupsPage, RulesPage, TokensPage, UsersPage,
};
use crate::pages::alerts::AlertsPage;
use crate::pages::capacity::CapacityPage;
use crate::pages::entity::EntityPage;
use crate::pages::ingest::IngestPage;
use crate::pages::layer::LayerPage;
use crate::pages::login::Login;
use crate::pages::overview::Overview;
use crate::session::{provide_session, use_session};

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
/// socket through context, and stays open while the viewer moves between pages.
#[component]
fn Live() -> impl IntoView {
    provide_live_feed();
    view! {
        <Router>
            <Shell />
            <main class="page">
                <Routes fallback=|| view! {
                    <p class="state empty" data-testid="not-found">"No such page. " <a href="/">"Overview"</a></p>
                }>
                    <Route path=path!("/") view=Overview />
                    <Route path=path!("/layers/:layer") view=LayerPage />
                    <Route path=path!("/entities/:layer/*entity") view=EntityPage />
                    <Route path=path!("/alerts") view=AlertsPage />
                    <Route path=path!("/capacity") view=CapacityPage />
                    <Route path=path!("/ingest") view=IngestPage />
                    <Route path=path!("/admin/capacities") view=CapacitiesPage />
                    <Route path=path!("/admin/rules") view=RulesPage />
                    <Route path=path!("/admin/groups") view=GroupsPage />
                    <Route path=path!("/admin/users") view=UsersPage />
                    <Route path=path!("/admin/tokens") view=TokensPage />
                    <Route path=path!("/admin/audit") view=AuditPage />
                    <Route path=path!("/login") view=LoginRoute />
                </Routes>
            </main>
        </Router>
    }
}

/// `/login` reached from inside the app (an anonymous viewer's "Log in" link): the form, and
/// back to the overview once signed in.
#[component]
fn LoginRoute() -> impl IntoView {
    let session = use_session();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if session.me.get().is_some_and(|m| m.name.is_some()) {
            navigate("/", Default::default());
        }
    });
    view! { <Login /> }
}
