//! How the use cases run: the Lambda SQS consumers that reach the database, and the local stack's pollers
//! (SQS against moto) and in-process workers. Only the functions and the CLI depend on this crate.

pub mod bootstrap;
pub mod lambda;
pub mod pollers;
pub mod workers;
