//! The crate's one error type. The driver's error stays inside it: callers see its text and causes, and ask
//! [`DbError`] what kind of fault it was, but cannot name a tokio-postgres type.

/// A fault the Postgres driver reported: displays, chains causes and debugs exactly as the driver's error does.
#[derive(thiserror::Error)]
#[error(transparent)]
pub struct PgError(pub(crate) tokio_postgres::Error);

impl std::fmt::Debug for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database: {0}")]
    Postgres(#[source] PgError),
    #[error("database pool: {0}")]
    Pool(String),
    #[error("migrations: {0}")]
    Migration(String),
    #[error("stored data: {0}")]
    Data(String),
}

impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> Self {
        DbError::Postgres(PgError(e))
    }
}

impl DbError {
    /// The database could not be reached or went away mid-statement (no connection, a closed socket, the server
    /// shutting down or not yet accepting connections): worth retrying later, unlike an error in the request.
    pub fn is_unavailable(&self) -> bool {
        match self {
            DbError::Pool(_) => true,
            DbError::Postgres(PgError(e)) => match e.as_db_error() {
                Some(db) => {
                    let code = db.code().code();
                    // Class 08 connection exceptions; 57P01-57P03 admin/crash shutdown, cannot connect now.
                    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
                }
                None => {
                    e.is_closed()
                        || std::error::Error::source(e)
                            .is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some())
                }
            },
            DbError::Migration(_) | DbError::Data(_) => false,
        }
    }

    /// The name of the violated unique constraint, so callers can answer 400 rather than 500.
    pub fn unique_violation(&self) -> Option<&str> {
        match self {
            DbError::Postgres(PgError(e)) => e
                .as_db_error()
                .filter(|d| d.code() == &tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
                .and_then(|d| d.constraint()),
            _ => None,
        }
    }
}

pub type DbResult<T> = Result<T, DbError>;

/// A database fault as the v2 API reports it: 503 while it is away, 500 otherwise.
impl From<DbError> for notify_core::errors::V2Error {
    fn from(e: DbError) -> Self {
        if e.is_unavailable() {
            notify_core::errors::V2Error::unavailable(e)
        } else {
            notify_core::errors::V2Error::internal(e)
        }
    }
}
