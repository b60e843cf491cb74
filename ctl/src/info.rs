//! What the module says about itself (`info-get`), the protocol check, and its display.

use serde::Serialize;

use crate::error::{CtlError, Result};
use crate::uapi_gen as uapi;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ModuleInfo {
    pub module_version: String,
    pub protocol_version: u32,
    pub features: u64,
}

/// Names of the feature bits, in bit order, as the spec names them.
const FEATURE_NAMES: &[(u64, &str)] =
    &[(uapi::FEATURE_INFO, "info"), (uapi::FEATURE_STOP_AND_COPY, "stop-and-copy")];

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

    pub fn feature_names(&self) -> Vec<String> {
        let mut names: Vec<String> = FEATURE_NAMES
            .iter()
            .filter(|(bit, _)| self.features & bit != 0)
            .map(|(_, n)| n.to_string())
            .collect();
        let known: u64 = FEATURE_NAMES.iter().map(|(b, _)| b).fold(0, |a, b| a | b);
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
    fn json_has_all_fields() {
        let v: serde_json::Value = serde_json::from_str(&info(1, 1).to_json()).unwrap();
        assert_eq!(v["module_version"], "0.1.0");
        assert_eq!(v["protocol_version"], 1);
        assert_eq!(v["feature_names"][0], "info");
    }
}
