//! Data a page fetches from the REST API, with its loading, empty and error states explicit,
//! and how each state looks (the same on every page, with `data-testid`s the e2e tests read).

use leptos::prelude::*;
use serde::de::DeserializeOwned;

use crate::api::{self, ApiFailure};

/// Where a fetch stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Load<T> {
    Loading,
    Failed(String),
    Ready(T),
}

impl<T> Load<T> {
    pub fn ready(&self) -> Option<&T> {
        match self {
            Load::Ready(v) => Some(v),
            _ => None,
        }
    }
}

/// What a failed fetch tells the viewer: the server's reason (a 404 names what is missing: a
/// series without a forecast yet, or a route an older server does not have).
pub fn failure_text(failure: &ApiFailure) -> String {
    match failure.status {
        403 => "only admins may see this".to_owned(),
        0 => format!("the server does not answer ({})", failure.message),
        _ => failure.message.clone(),
    }
}

/// Fetches the path `path()` gives into the returned signal, and again whenever a signal that
/// `path` reads changes. While a refetch runs the old value stays, so charts and tables do not
/// blink on every live update.
pub fn load<T>(path: impl Fn() -> String + 'static) -> RwSignal<Load<T>>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    let state = RwSignal::new(Load::Loading);
    Effect::new(move |_| {
        let path = path();
        leptos::task::spawn_local(async move {
            let next = match api::get::<T>(&path).await {
                Ok(v) => Load::Ready(v),
                Err(e) => Load::Failed(failure_text(&e)),
            };
            state.set(next);
        });
    });
    state
}

/// The view of `load`: a loading line, an error line, an empty line (when `is_empty`), or
/// `ready`'s view of the data. `what` names the data in those lines ("alerts").
pub fn view_load<T: Clone>(
    load: &Load<T>,
    what: &'static str,
    is_empty: impl Fn(&T) -> bool,
    ready: impl FnOnce(T) -> AnyView,
) -> AnyView {
    match load {
        Load::Loading => view! {
            <p class="state loading" data-testid="state-loading">"Loading " {what} "…"</p>
        }
        .into_any(),
        Load::Failed(e) => view! {
            <p class="state error" data-testid="state-error">
                "Could not load " {what} ": " {e.clone()}
            </p>
        }
        .into_any(),
        Load::Ready(v) if is_empty(v) => view! {
            <p class="state empty" data-testid="state-empty">"No " {what} " yet."</p>
        }
        .into_any(),
        Load::Ready(v) => ready(v.clone()),
    }
}

/// Milliseconds since the epoch on the page's clock.
pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}
