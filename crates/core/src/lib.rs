//! rusque's core: the CPU pool and the task catalog, free of Node.js types so
//! that it builds and tests with plain `cargo test`.

pub mod budget;
pub mod build_info;
pub mod error;
pub mod metrics;
pub mod pool;
pub mod spec;
pub mod tasks;

pub use error::{Code, Error, Result};
pub use pool::Cancel;
pub use tasks::{Output, Task};
