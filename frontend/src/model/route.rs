//! The dashboard's addresses: which page a path shows, and the path of a page, so that a link
//! can be shared and the header's navigation knows where the viewer is. The router
//! (`app.rs`) matches the same paths; this is the plain form of them that tests can read.

use layercast_shared::OsiLayer;

/// The admin pages, under `/admin/...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminPage {
    Capacities,
    Rules,
    Groups,
    Users,
    Tokens,
    Audit,
}

impl AdminPage {
    pub const ALL: [AdminPage; 6] = [
        AdminPage::Capacities,
        AdminPage::Rules,
        AdminPage::Groups,
        AdminPage::Users,
        AdminPage::Tokens,
        AdminPage::Audit,
    ];

    /// The last segment of its path, and its `data-testid` suffix.
    pub fn slug(self) -> &'static str {
        match self {
            AdminPage::Capacities => "capacities",
            AdminPage::Rules => "rules",
            AdminPage::Groups => "groups",
            AdminPage::Users => "users",
            AdminPage::Tokens => "tokens",
            AdminPage::Audit => "audit",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            AdminPage::Capacities => "Capacities",
            AdminPage::Rules => "Alert rules",
            AdminPage::Groups => "Precursor groups",
            AdminPage::Users => "Users",
            AdminPage::Tokens => "API tokens",
            AdminPage::Audit => "Audit log",
        }
    }

    fn from_slug(slug: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.slug() == slug)
    }
}

/// One page of the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    Overview,
    Layer(OsiLayer),
    Entity { layer: OsiLayer, entity: String },
    Alerts,
    Capacity,
    Ingest,
    Admin(AdminPage),
    Login,
}

impl Page {
    /// The page at `path` (without query); `None` for a path the dashboard does not have.
    pub fn parse(path: &str) -> Option<Page> {
        let trimmed = path.trim_end_matches('/');
        let mut parts = trimmed.trim_start_matches('/').splitn(3, '/');
        let first = parts.next().unwrap_or_default();
        let second = parts.next();
        let rest = parts.next();
        match (first, second, rest) {
            ("", None, None) => Some(Page::Overview),
            ("layers", Some(layer), None) => layer.parse().ok().map(Page::Layer),
            ("entities", Some(layer), Some(entity)) if !entity.is_empty() => Some(Page::Entity {
                layer: layer.parse().ok()?,
                entity: decode(entity),
            }),
            ("alerts", None, None) => Some(Page::Alerts),
            ("capacity", None, None) => Some(Page::Capacity),
            ("ingest", None, None) => Some(Page::Ingest),
            ("login", None, None) => Some(Page::Login),
            ("admin", Some(slug), None) => AdminPage::from_slug(slug).map(Page::Admin),
            _ => None,
        }
    }

    /// The path that shows this page.
    pub fn href(&self) -> String {
        match self {
            Page::Overview => "/".to_owned(),
            Page::Layer(layer) => format!("/layers/{layer}"),
            Page::Entity { layer, entity } => format!("/entities/{layer}/{}", encode(entity)),
            Page::Alerts => "/alerts".to_owned(),
            Page::Capacity => "/capacity".to_owned(),
            Page::Ingest => "/ingest".to_owned(),
            Page::Admin(page) => format!("/admin/{}", page.slug()),
            Page::Login => "/login".to_owned(),
        }
    }

    /// Which entry of the header's navigation is current on this page.
    pub fn section(&self) -> &'static str {
        match self {
            Page::Overview | Page::Layer(_) | Page::Entity { .. } => "overview",
            Page::Alerts => "alerts",
            Page::Capacity => "capacity",
            Page::Ingest => "ingest",
            Page::Admin(_) => "admin",
            Page::Login => "login",
        }
    }
}

/// Percent-encodes what cannot stand in one path segment or a query value. Entity names hold
/// `/` (`10.0.1.0/24`), `>` (`a>b` flows) and spaces.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' => {
                out.push(char::from(byte))
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// Undoes [`encode`] (and any other percent-encoding); a malformed escape stays as written.
pub fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(value)) => {
                out.push(value);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_path_parses_and_round_trips() {
        let pages = [
            Page::Overview,
            Page::Layer(OsiLayer::L3),
            Page::Entity {
                layer: OsiLayer::L3,
                entity: "10.0.1.0/24".into(),
            },
            Page::Entity {
                layer: OsiLayer::L4,
                entity: "10.0.0.1>10.1.0.1 x%".into(),
            },
            Page::Alerts,
            Page::Capacity,
            Page::Ingest,
            Page::Login,
        ]
        .into_iter()
        .chain(AdminPage::ALL.map(Page::Admin));
        for page in pages {
            assert_eq!(Page::parse(&page.href()), Some(page.clone()), "{page:?}");
        }
    }

    #[test]
    fn entity_paths_accept_encoded_and_plain_slashes() {
        let want = Some(Page::Entity {
            layer: OsiLayer::L3,
            entity: "10.0.1.0/24".into(),
        });
        assert_eq!(Page::parse("/entities/L3/10.0.1.0%2F24"), want);
        assert_eq!(Page::parse("/entities/L3/10.0.1.0/24"), want);
        assert_eq!(
            Page::href(&Page::Entity {
                layer: OsiLayer::L3,
                entity: "10.0.1.0/24".into()
            }),
            "/entities/L3/10.0.1.0%2F24"
        );
    }

    #[test]
    fn unknown_paths_and_layers_are_not_pages() {
        assert_eq!(Page::parse("/layers/L8"), None);
        assert_eq!(Page::parse("/admin/nothing"), None);
        assert_eq!(Page::parse("/entities/L3"), None);
        assert_eq!(Page::parse("/alerts/"), Some(Page::Alerts));
        assert_eq!(
            Page::parse("/admin/rules").map(|p| p.section()),
            Some("admin")
        );
    }

    #[test]
    fn decoding_leaves_malformed_escapes() {
        assert_eq!(decode("a%2"), "a%2");
        assert_eq!(decode("a%zzb"), "a%zzb");
        assert_eq!(decode("%3E"), ">");
    }
}
