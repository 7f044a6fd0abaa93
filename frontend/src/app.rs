//! The root component: starts the live feed and shows the dashboard.

use leptos::prelude::*;

use crate::live::provide_live_feed;
use crate::pages::dashboard::Dashboard;

/// Opens the live feed once, here at the root, so that every page reads the same socket
/// through context instead of opening its own.
///
/// There is one page, so no router yet: `leptos_router` comes in with a second page.
#[component]
pub fn App() -> impl IntoView {
    provide_live_feed();
    view! { <Dashboard /> }
}
