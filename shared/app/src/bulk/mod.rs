//! Bulk sending: CSV jobs created through the admin API, the CLI or `POST /v2/notifications/bulk`
//! ([`create`]), processed by the jobs worker ([`process`]) and released, watched and finished by the
//! housekeeping jobs ([`schedule`]); and single sends scheduled for later ([`scheduled_sends`]).

pub mod create;
// issue 14: bulk endpoint
pub mod endpoint;
pub mod process;
pub mod schedule;
pub mod scheduled_sends;
// issue 14: admin
pub mod admin;
