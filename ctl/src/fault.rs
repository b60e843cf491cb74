//! Fault injection, built in (as in CRIU): `migctl serve --inject-fault POINT` makes this
//! daemon fail a migration at POINT, so the lab can show that every step fails cleanly. The
//! armed point is held in the daemon's [`crate::node::Node`].

use clap::ValueEnum;

/// Where a migration can be made to fail. Named in kebab case on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FaultPoint {
    /// Target: after the module accepted the image, before the stub starts.
    TargetBeforeStub,
    /// Target: once the stub has rebuilt the layout.
    TargetAfterLayout,
    /// Target: after the first batch of pages.
    TargetMidPages,
    /// Target: on Go, before the task runs.
    TargetBeforeGo,
    /// Source: right after the freeze.
    SourceAfterFreeze,
    /// Source: before it sends Go.
    SourceBeforeGo,
    /// Source: not a failing step, but the process vanishes (SIGKILL, reaped) between the
    /// caller's proof and the freeze, so the module's "no such pid" path runs as in that race.
    SourceProcessGoneBeforeFreeze,
}

impl std::fmt::Display for FaultPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The command line's name of the point (clap derives it, in kebab case).
        let v = self.to_possible_value().ok_or(std::fmt::Error)?;
        f.write_str(v.get_name())
    }
}

/// A step failed because a fault was injected there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("fault injected at {0}")]
pub struct Injected(pub FaultPoint);

/// The armed fault point of a daemon, if any.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults(Option<FaultPoint>);

impl Faults {
    pub fn new(point: Option<FaultPoint>) -> Self {
        if let Some(p) = point {
            log::warn!("fault injection armed at {p}");
        }
        Faults(point)
    }

    /// Err when the armed point is `point`: the caller fails there as on a real error.
    pub fn check(&self, point: FaultPoint) -> Result<(), Injected> {
        if self.armed(point) {
            log::warn!("fault injected at {point}");
            return Err(Injected(point));
        }
        Ok(())
    }

    /// True when the armed point is `point` (for points that provoke a condition instead of
    /// failing a step).
    pub fn armed(&self, point: FaultPoint) -> bool {
        self.0 == Some(point)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 7] = [
        "target-before-stub",
        "target-after-layout",
        "target-mid-pages",
        "target-before-go",
        "source-after-freeze",
        "source-before-go",
        "source-process-gone-before-freeze",
    ];

    #[test]
    fn every_point_parses_from_its_kebab_case_name() {
        for name in NAMES {
            let p = FaultPoint::from_str(name, false).unwrap();
            assert_eq!(p.to_string(), name);
            assert_eq!(p.to_possible_value().unwrap().get_name(), name);
        }
        assert_eq!(FaultPoint::value_variants().len(), NAMES.len());
        assert!(FaultPoint::from_str("target-nowhere", false).is_err());
    }

    #[test]
    fn the_cli_takes_the_point() {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from(["migctl", "serve", "--inject-fault", "source-process-gone-before-freeze"]).unwrap();
        assert!(matches!(cli.cmd, crate::cli::Cmd::Serve { inject_fault: Some(FaultPoint::SourceProcessGoneBeforeFreeze), .. }));
        assert!(crate::cli::Cli::try_parse_from(["migctl", "serve", "--inject-fault", "bogus"]).is_err());
    }

    #[test]
    fn only_the_armed_point_fails() {
        let f = Faults::new(Some(FaultPoint::TargetMidPages));
        assert_eq!(f.check(FaultPoint::TargetMidPages), Err(Injected(FaultPoint::TargetMidPages)));
        assert!(f.check(FaultPoint::TargetBeforeGo).is_ok());
        assert_eq!(Injected(FaultPoint::SourceBeforeGo).to_string(), "fault injected at source-before-go");
        assert!(Faults::default().check(FaultPoint::SourceAfterFreeze).is_ok());
    }
}
