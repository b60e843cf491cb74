//! Migration: the source side (`source`), the target side (`target`), and the resources
//! each moves, one file per kind: mapped files (`files`), page contents (`pages`), identity,
//! limits and descriptors (`procinfo`); `table` records migrations for `migctl ps`.

pub mod files;
pub mod lazy_source;
pub mod lazy_target;
pub mod pages;
pub mod procinfo;
pub mod source;
pub mod table;
pub mod target;
