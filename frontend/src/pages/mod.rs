//! One file per page (the admin pages in `admin/`).

pub mod admin;
pub mod alerts;
pub mod capacity;
pub mod entity;
pub mod ingest;
pub mod layer;
pub mod login;
pub mod overview;
