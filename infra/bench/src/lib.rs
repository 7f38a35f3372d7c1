//! The benchmarks behind BENCHMARKS.md, run as `notify bench …`, and everything only they need: the SQL that
//! times sends, copies notifications and vacuums, and the connection-holding comparator (in [`sql`]); the
//! simulated provider with a real provider's latency ([`slow_provider`]); and the count of the database pools'
//! failures, read from the metrics ([`pool_failures`]). No production crate carries any of it.

pub mod callbacks;
pub mod cold_start;
pub mod fairness;
pub mod instructions;
// issue 14: bench jobs
pub mod jobs;
pub mod letters;
pub mod pipeline;
pub mod pool_failures;
pub mod precompiled;
pub mod retention;
pub mod slow_provider;
pub mod sms;
pub mod sql;
