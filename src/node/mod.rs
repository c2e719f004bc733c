//! The node agent. For now only its simulated form (`simulate`): nodes that register, heartbeat and report bound
//! pods Running and Ready without running anything, for tests and benchmarks of the control plane.

pub mod simulate;
