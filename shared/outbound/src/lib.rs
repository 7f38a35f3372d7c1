//! Every outbound HTTP call: the providers (SES, End User Messaging SMS, Firetext), the service callback sender
//! and the guarded client they share. This crate cannot name a database connection: it does not depend on
//! `notify-db`, so a provider or callback call is always made on plain values with no connection held.

pub mod callbacks;
pub mod cloudformation;
pub mod guard;
pub mod print;
pub mod providers;
pub mod scan;
