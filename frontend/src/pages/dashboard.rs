//! The dashboard: every layer's newest windows, live.

use layercast_shared::OsiLayer;
use leptos::prelude::*;

use crate::components::{AnomalyList, ConnectionIndicator, LayerCard, PartitionTable, UserMenu};
use crate::live::use_live_feed;

#[component]
pub fn Dashboard() -> impl IntoView {
    let feed = use_live_feed();
    // While the feed is down the cards keep the last data they had, dimmed, rather than
    // going blank: a planner still sees where things stood.
    let stale = move || !feed.state.get().is_live();
    let node = move || feed.node.get().map(|node| format!("node {node}"));

    view! {
        <header class="topbar">
            <div class="brand">
                <h1>"LayerCast"</h1>
                <p>"Live traffic per OSI layer, by time window"</p>
            </div>
            <div class="status">
                <span class="node">{node}</span>
                <ConnectionIndicator />
                <UserMenu />
            </div>
        </header>
        <main class="layers" class:stale=stale>
            {OsiLayer::ALL.into_iter().map(|layer| view! { <LayerCard layer /> }).collect_view()}
        </main>
        <AnomalyList />
        <PartitionTable />
    }
}
