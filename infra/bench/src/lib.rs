//! The benchmarks behind BENCHMARKS.md, run as `notify bench …`, and everything only they need: the SQL that
//! times sends, copies notifications and vacuums (in [`sql`]), the connection-holding comparator, and the count
//! of the database pool's failures read from the metrics. No production crate carries any of it.

pub mod callbacks;
pub mod cold_start;
pub mod fairness;
pub mod pipeline;
pub mod pool_failures;
pub mod retention;
pub mod slow_provider;
pub mod sms;
pub mod sql;
