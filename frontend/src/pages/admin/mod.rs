//! `/admin/...`: what admins set. Each page checks the role itself (a viewer who types the
//! address sees a notice, not a form), and the server refuses a viewer's change anyway.

mod audit;
mod capacities;
mod groups;
mod rules;
mod tokens;
mod users;

pub use audit::AuditPage;
pub use capacities::CapacitiesPage;
pub use groups::GroupsPage;
pub use rules::RulesPage;
pub use tokens::TokensPage;
pub use users::UsersPage;

use leptos::prelude::*;
use serde::Serialize;

use crate::api;
use crate::session::{use_session, Session};

/// Shows `children` to admins, a notice to everyone else.
#[component]
pub fn AdminOnly(children: ChildrenFn) -> impl IntoView {
    let session = use_session();
    view! {
        <Show
            when=move || session.is_admin()
            fallback=|| view! {
                <p class="state error" data-testid="admin-only">"Only admins see this page."</p>
            }
        >
            {children()}
        </Show>
    }
}

/// Sends a change with the session's CSRF token; `Err` is the server's message.
pub async fn change<B: Serialize>(
    session: Session,
    method: &str,
    path: &str,
    body: Option<&B>,
) -> Result<String, String> {
    api::send_json(method, path, body, session.csrf().as_deref())
        .await
        .map_err(|e| e.message)
}

/// A line under a form: what the last action did, or why it failed (`role=alert`, so a screen
/// reader says it).
#[component]
pub fn Outcome(outcome: RwSignal<Option<Result<String, String>>>) -> impl IntoView {
    move || {
        outcome.get().map(|o| match o {
            Ok(text) => {
                view! { <p class="state ok" data-testid="outcome-ok">{text}</p> }.into_any()
            }
            Err(text) => view! {
                <p class="state error" role="alert" data-testid="outcome-error">{text}</p>
            }
            .into_any(),
        })
    }
}
