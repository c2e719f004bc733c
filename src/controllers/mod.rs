//! The controller-manager's control loops. Each controller's decisions are pure functions from the objects it
//! watches (and `now`) to a plan of API writes and Events; the glue in `run` feeds them from shared reflectors
//! and carries the plans out through the public API. Nothing here imports `apiserver` or `storage`.

pub mod cron_schedule;
pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod endpoints;
pub mod event;
pub mod job;
pub mod loops;
pub mod nodeipam;
pub mod nodelifecycle;
pub mod ownership;
pub mod podcontrol;
pub mod podgc;
pub mod podutil;
pub mod replicaset;
pub mod selector;
pub mod statefulset;
