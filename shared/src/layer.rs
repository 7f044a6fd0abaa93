use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The seven OSI layers. A closed set, so an enum: a typo in a file or a query is refused
/// instead of creating an eighth layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum OsiLayer {
    L1,
    L2,
    L3,
    L4,
    L5,
    L6,
    L7,
}

impl OsiLayer {
    pub const ALL: [OsiLayer; 7] = [
        OsiLayer::L1,
        OsiLayer::L2,
        OsiLayer::L3,
        OsiLayer::L4,
        OsiLayer::L5,
        OsiLayer::L6,
        OsiLayer::L7,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OsiLayer::L1 => "L1",
            OsiLayer::L2 => "L2",
            OsiLayer::L3 => "L3",
            OsiLayer::L4 => "L4",
            OsiLayer::L5 => "L5",
            OsiLayer::L6 => "L6",
            OsiLayer::L7 => "L7",
        }
    }

    /// The name planners know the layer by.
    pub fn title(self) -> &'static str {
        match self {
            OsiLayer::L1 => "Physical",
            OsiLayer::L2 => "Data link",
            OsiLayer::L3 => "Network",
            OsiLayer::L4 => "Transport",
            OsiLayer::L5 => "Session",
            OsiLayer::L6 => "Presentation",
            OsiLayer::L7 => "Application",
        }
    }
}

impl fmt::Display for OsiLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownLayer(pub String);

impl fmt::Display for UnknownLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown OSI layer {:?} (expected L1..L7)", self.0)
    }
}

impl std::error::Error for UnknownLayer {}

impl FromStr for OsiLayer {
    type Err = UnknownLayer;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OsiLayer::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownLayer(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_case_insensitively_and_refuses_others() {
        assert_eq!("l3".parse::<OsiLayer>(), Ok(OsiLayer::L3));
        assert_eq!("L7".parse::<OsiLayer>(), Ok(OsiLayer::L7));
        assert!("L8".parse::<OsiLayer>().is_err());
    }
}
