//! One file per page.

pub mod dashboard;
pub mod login;
