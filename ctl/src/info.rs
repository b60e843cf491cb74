//! What the module says about itself (`info-get`), the protocol check, and its display.

use serde::Serialize;

use crate::error::{CtlError, Refused, Result};
use crate::uapi::Feature;
use crate::uapi_gen as uapi;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ModuleInfo {
    pub module_version: String,
    pub protocol_version: u32,
    pub features: u64,
}

impl ModuleInfo {
    /// Refuse a module that speaks another protocol: every later command depends on it.
    pub fn check_protocol(&self) -> Result<()> {
        if self.protocol_version != uapi::PROTOCOL_VERSION {
            return Err(CtlError::ProtocolMismatch {
                module: self.protocol_version,
                ours: uapi::PROTOCOL_VERSION,
            });
        }
        Ok(())
    }

    pub fn has(&self, f: Feature) -> bool {
        self.features & f.bit() != 0
    }

    /// Refuse (on `node`) what needs a feature this module lacks.
    pub fn require(&self, f: Feature, node: &str) -> std::result::Result<(), Refused> {
        if self.has(f) {
            return Ok(());
        }
        Err(Refused::MissingFeature { node: node.into(), feature: f })
    }

    pub fn feature_names(&self) -> Vec<String> {
        let mut names: Vec<String> =
            Feature::ALL.iter().filter(|f| self.has(**f)).map(|f| f.name().to_string()).collect();
        let known: u64 = Feature::ALL.iter().fold(0, |a, f| a | f.bit());
        let unknown = self.features & !known;
        if unknown != 0 {
            names.push(format!("unknown({unknown:#x})"));
        }
        names
    }

    pub fn to_json(&self) -> String {
        serde_json::json!({
            "module_version": self.module_version,
            "protocol_version": self.protocol_version,
            "features": self.features,
            "feature_names": self.feature_names(),
        })
        .to_string()
    }

    pub fn to_text(&self) -> String {
        format!(
            "module version:   {}\nprotocol version: {}\nfeatures:         {} ({:#x})",
            self.module_version,
            self.protocol_version,
            self.feature_names().join(","),
            self.features
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(proto: u32, features: u64) -> ModuleInfo {
        ModuleInfo { module_version: "0.1.0".into(), protocol_version: proto, features }
    }

    #[test]
    fn same_protocol_is_accepted() {
        assert!(info(uapi::PROTOCOL_VERSION, 1).check_protocol().is_ok());
    }

    #[test]
    fn other_protocol_is_refused_with_both_versions() {
        let e = info(uapi::PROTOCOL_VERSION + 1, 1).check_protocol().unwrap_err();
        assert!(matches!(e, CtlError::ProtocolMismatch { module, ours }
            if module == uapi::PROTOCOL_VERSION + 1 && ours == uapi::PROTOCOL_VERSION));
    }

    #[test]
    fn unknown_feature_bits_are_shown() {
        assert_eq!(info(1, uapi::FEATURE_INFO | 0x100).feature_names(), vec!["info", "unknown(0x100)"]);
    }

    #[test]
    fn a_missing_feature_is_refused_by_name() {
        let i = info(uapi::PROTOCOL_VERSION, uapi::FEATURE_INFO | uapi::FEATURE_STOP_AND_COPY);
        assert!(i.require(Feature::StopAndCopy, "node1").is_ok());
        let r = i.require(Feature::Lazy, "node1").unwrap_err();
        assert_eq!(r, Refused::MissingFeature { node: "node1".into(), feature: Feature::Lazy });
        assert_eq!(r.to_string(), "the migr module on node1 lacks the lazy feature");
        let all = info(uapi::PROTOCOL_VERSION, uapi::FEATURE_INFO | uapi::FEATURE_STOP_AND_COPY | uapi::FEATURE_LAZY);
        assert!(all.require(Feature::Lazy, "node1").is_ok());
        assert_eq!(all.feature_names(), vec!["info", "stop-and-copy", "lazy"]);
    }

    #[test]
    fn json_has_all_fields() {
        let v: serde_json::Value = serde_json::from_str(&info(1, 1).to_json()).unwrap();
        assert_eq!(v["module_version"], "0.1.0");
        assert_eq!(v["protocol_version"], 1);
        assert_eq!(v["feature_names"][0], "info");
    }
}
