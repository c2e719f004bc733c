//! The scheduler's placement algorithm: an incrementally fed view of nodes and bound pods (`state`), the
//! default kube-scheduler filters and scores over it with upstream's failure messages (`placement`), and the
//! matching rules and resource arithmetic they share (`matching`, `resources`). Pure logic: the scheduling loop
//! feeds watch events in, calls `ClusterState::schedule`, sends the binding, then `assume`s the pod.

pub mod matching;
pub mod placement;
pub mod queue;
pub mod resources;
pub mod run;
pub mod state;
