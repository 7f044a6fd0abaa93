use leptos::prelude::*;

use crate::live::use_live_feed;

/// Badge telling whether the page is live: `connecting`, `live`, `reconnecting`, and after
/// a reconnection `resumed` (nothing missed) or `snapshot` (reloaded), as text and as
/// `data-state` (which the stylesheet colours by, and the e2e test reads).
#[component]
pub fn ConnectionIndicator() -> impl IntoView {
    let feed = use_live_feed();
    let state = move || feed.state.get().as_str();
    view! {
        <span class="connection" data-testid="connection" data-state=state role="status">
            {state}
        </span>
    }
}
