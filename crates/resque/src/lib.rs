//! The resque protocol on Redis, for native jobs: key layout, payloads,
//! native job specs, the Rust worker loop and the heartbeat thread that
//! proves a worker process alive while its JS thread is busy.

pub mod alive;
pub mod files;
pub mod job;
pub mod keys;
pub mod link;
pub mod payload;
pub mod plugins;
pub mod remote;
pub mod wake;
pub mod result;
pub mod worker;
