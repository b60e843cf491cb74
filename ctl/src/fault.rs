//! Fault injection, built in (as in CRIU): `migctl serve --inject-fault POINT` makes this
//! daemon fail a migration at POINT, so the lab can show that every step fails cleanly.
//! Points: target-before-stub, target-after-layout, target-mid-pages, target-before-go,
//! source-after-freeze, source-before-go; and source-process-gone-before-freeze, which does not
//! fail a step but makes the process vanish (SIGKILL, reaped) between the caller's proof and
//! the freeze, so the module's "no such pid" path runs as in that race.

use std::sync::OnceLock;

static POINT: OnceLock<String> = OnceLock::new();

pub const POINTS: &[&str] = &[
    "target-before-stub",
    "target-after-layout",
    "target-mid-pages",
    "target-before-go",
    "source-after-freeze",
    "source-before-go",
    "source-process-gone-before-freeze",
];

pub fn set(point: &str) -> Result<(), String> {
    if !POINTS.contains(&point) {
        return Err(format!("unknown fault point {point:?}; known: {}", POINTS.join(", ")));
    }
    let _ = POINT.set(point.to_string());
    log::warn!("fault injection armed at {point}");
    Ok(())
}

/// Err when the armed point is `point`: the caller fails there as on a real error.
pub fn check(point: &str) -> Result<(), String> {
    match POINT.get() {
        Some(p) if p == point => {
            log::warn!("fault injected at {point}");
            Err(format!("fault injected at {point}"))
        }
        _ => Ok(()),
    }
}

/// True when the armed point is `point` (for points that provoke a condition instead of
/// failing a step).
pub fn armed(point: &str) -> bool {
    matches!(POINT.get(), Some(p) if p == point)
}
