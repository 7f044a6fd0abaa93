//! The traffic simulator behind `layercast simulate` (to be written).
