//! The resque protocol on Redis, for native jobs: key layout, payloads,
//! native job specs and the Rust worker loop.

pub mod files;
pub mod job;
pub mod keys;
pub mod payload;
pub mod result;
pub mod worker;
