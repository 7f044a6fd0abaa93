//! The traffic simulator behind `layercast simulate`: a small network (switch ports, a load
//! balancer, services, resolvers) whose traffic follows daily and weekly cycles and grows,
//! written in the real formats the parsers read, with incidents whose truth is known.
//!
//! - [`scenario`]: the TOML scenario file, checked into a [`model::Network`].
//! - [`model`]: the network and what its incidents do at a given moment.
//! - [`traffic`]: seasonality, growth, noise.
//! - [`write`]: one writer per format (VPC flow, ALB, Zeek, interface counters).
//! - [`sim`]: the producers, rolling objects in simulated-time order (pure).
//! - [`truth`]: the ground truth of a run.
//! - [`run`]: the edge: pacing against the wall clock, atomic files in a folder.

mod fmt;
pub mod model;
pub mod run;
pub mod scenario;
mod scenario_file;
pub mod sim;
pub mod traffic;
pub mod truth;
pub mod write;

pub use run::{run, Options, SimError, Speed, Summary, TRUTH_FILE};
pub use scenario::{parse as parse_scenario, ScenarioError, DEFAULT_SCENARIO};
pub use sim::{Object, Simulation};
pub use truth::{ground_truth, GroundTruth};

#[cfg(test)]
mod tests;
