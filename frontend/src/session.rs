//! Who is logged in: `/api/me` at start, the login page's answer after, logout. In context
//! for every component (the header's user menu, and the admin pages to come, which show their
//! buttons to admins only).

use layercast_shared::{LoginRequest, Me, Role};
use leptos::prelude::*;

use crate::api;

#[derive(Debug, Clone, Copy)]
pub struct Session {
    /// `None` until `/api/me` has answered.
    pub me: RwSignal<Option<Me>>,
    /// Why `/api/me` failed, when it did (the server unreachable).
    pub error: RwSignal<Option<String>>,
}

impl Session {
    /// Whether the signed-in user may change settings (the admin pages, acknowledge,
    /// silence). Tracked: a view reading it follows a login or logout.
    pub fn is_admin(self) -> bool {
        self.me.get().is_some_and(|m| m.role == Some(Role::Admin))
    }

    /// The token every change must carry (`X-CSRF-Token`), for a browser session.
    pub fn csrf(self) -> Option<String> {
        self.me.get_untracked().and_then(|m| m.csrf_token)
    }

    /// Asks the server who this browser is.
    pub fn refresh(self) {
        leptos::task::spawn_local(async move {
            match api::get_json::<Me>("/api/me").await {
                Ok(me) => {
                    self.error.set(None);
                    self.me.set(Some(me));
                }
                Err(e) => self.error.set(Some(e)),
            }
        });
    }

    /// Logs in; `Err` carries the server's message (wrong password, too many attempts).
    pub async fn login(self, name: String, password: String) -> Result<(), String> {
        let body = LoginRequest { name, password };
        let me: Me = api::send_for("POST", "/api/login", Some(&body), None)
            .await
            .map_err(|e| e.message)?;
        self.me.set(Some(me));
        Ok(())
    }

    pub fn logout(self) {
        let csrf = self.me.get_untracked().and_then(|m| m.csrf_token);
        leptos::task::spawn_local(async move {
            if let Err(e) = api::send_json::<()>("POST", "/api/logout", None, csrf.as_deref()).await
            {
                leptos::logging::warn!("logout: {e}");
            }
            self.refresh();
        });
    }
}

/// Puts a [`Session`] in context and asks the server who this is.
pub fn provide_session() -> Session {
    let session = Session {
        me: RwSignal::new(None),
        error: RwSignal::new(None),
    };
    provide_context(session);
    session.refresh();
    session
}

pub fn use_session() -> Session {
    expect_context::<Session>()
}
