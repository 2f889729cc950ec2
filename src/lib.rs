//! The lock engine's modules, and its Node bindings (`node/`, the `node` feature, on by default). The
//! domain modules know nothing of napi, so that the fuzz targets can link them without a Node runtime;
//! `node/` only converts between JavaScript and them.

pub mod acquire;
pub mod clock;
pub mod config;
pub mod durability;
pub mod error;
#[doc(hidden)]
pub mod fuzz_checks;
pub mod hold;
pub mod inspect;
pub mod jsonl;
pub mod kernel_lock;
pub mod monitor;
pub mod network_fs;
pub mod os_file;
pub mod payload;
pub mod process;
pub mod queue;
pub mod sidecar;
pub mod staleness;
pub mod stats;
#[cfg(test)]
mod test_support;
pub mod waiter_threads;

#[cfg(feature = "node")]
pub mod node;
