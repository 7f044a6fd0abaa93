//! The header every page shares: the product, the navigation (admin pages for admins only),
//! the node serving the live feed, the connection state and who is logged in.

use leptos::prelude::*;
use leptos_router::hooks::use_location;

use crate::components::{ConnectionIndicator, UserMenu};
use crate::live::use_live_feed;
use crate::model::route::{AdminPage, Page};
use crate::session::use_session;

/// The planners' pages: (section, path, title).
const NAV: [(&str, &str, &str); 4] = [
    ("overview", "/", "Overview"),
    ("alerts", "/alerts", "Alerts"),
    ("capacity", "/capacity", "Capacity"),
    ("ingest", "/ingest", "Ingest"),
];

#[component]
pub fn Shell() -> impl IntoView {
    let feed = use_live_feed();
    let session = use_session();
    let location = use_location();
    let section =
        Memo::new(move |_| Page::parse(&location.pathname.get()).map_or("", |p| p.section()));
    let node = move || feed.node.get().map(|node| format!("node {node}"));
    let firing = move || {
        let n = feed.alerts.with(|a| a.firing().len());
        (n > 0).then(|| view! { <span class="badge bad" data-testid="nav-firing">{n}</span> })
    };
    let links = NAV
        .into_iter()
        .map(|(name, href, title)| {
            let current = move || (section.get() == name).then_some("page");
            view! {
                <a href=href data-testid=format!("nav-{name}") aria-current=current>
                    {title}
                    {(name == "alerts").then_some(firing)}
                </a>
            }
        })
        .collect_view();
    let admin_links = move || {
        session.is_admin().then(|| {
            let current = location.pathname.get();
            view! {
                <nav class="admin-nav" aria-label="Administration" data-testid="admin-nav">
                    <span class="admin-label">"Admin"</span>
                    {AdminPage::ALL
                        .into_iter()
                        .map(|p| {
                            let href = Page::Admin(p).href();
                            let here = (current == href).then_some("page");
                            view! {
                                <a href=href.clone() data-testid=format!("nav-admin-{}", p.slug())
                                    aria-current=here>{p.title()}</a>
                            }
                        })
                        .collect_view()}
                </nav>
            }
        })
    };
    view! {
        <header class="topbar">
            <div class="brand">
                <h1><a href="/">"LayerCast"</a></h1>
                <p>"Live traffic per OSI layer, by time window"</p>
            </div>
            <nav class="nav" aria-label="Pages">{links}</nav>
            <div class="status">
                <span class="node">{node}</span>
                <ConnectionIndicator />
                <UserMenu />
            </div>
        </header>
        {admin_links}
    }
}
