//! Migration: the source side (`source`), the target side (`target`), and what each moves
//! besides open descriptors (`crate::fd`): mapped files (`files`), page contents (`pages`),
//! identity and limits (`procinfo`); `table` records migrations for `migctl ps`, and `home`
//! keeps a process's home node told where it runs, and `deputy` connects a process's deputy
//! there with the process. The services of lazy mode run on the
//! migration's session (`crate::session`).

pub mod deputy;
pub mod files;
pub mod home;
pub mod home_calls;
pub mod pages;
pub mod procinfo;
pub mod source;
pub mod table;
pub mod target;
