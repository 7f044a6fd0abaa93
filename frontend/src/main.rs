//! LayerCast's dashboard, a Leptos client-side app that Trunk builds (see `Trunk.toml` and
//! `scripts/build-frontend`). This file only mounts the root component; `app.rs` is where the
//! application starts and routes.

mod api;
mod app;
mod components;
mod download;
mod feed;
mod format;
mod history;
mod live;
mod model;
mod pages;
mod remote;
mod session;

fn main() {
    // Panics show up in the browser console with a message, instead of as "unreachable".
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
