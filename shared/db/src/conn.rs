//! One connection for one unit of work, and the statements run on it. Private to the crate: nothing outside
//! can hold a connection, so nothing can keep one across an outbound HTTP call.

use tokio_postgres::Row;
use tokio_postgres::types::{ToSql, Type};

use crate::{Db, DbError, DbResult};

/// A connection for one unit of work; in short-lived mode it is closed, not pooled, when dropped.
pub(crate) struct Conn {
    pub(crate) object: Option<deadpool_postgres::Object>,
    pub(crate) keep_idle: bool,
}

impl std::ops::Deref for Conn {
    type Target = deadpool_postgres::Object;
    fn deref(&self) -> &Self::Target {
        self.object.as_ref().expect("connection present until drop")
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.object.as_mut().expect("connection present until drop")
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let (false, Some(object)) = (self.keep_idle, self.object.take()) {
            // Detached from the pool and dropped: the client goes, and with it the server connection.
            drop(deadpool_postgres::Object::take(object));
        }
    }
}

pub(crate) type Param<'a> = (&'a (dyn ToSql + Sync), Type);

impl Db {
    pub(crate) async fn query(&self, sql: &str, params: &[Param<'_>]) -> DbResult<Vec<Row>> {
        Ok(self.conn().await?.query_typed(sql, params).await?)
    }

    pub(crate) async fn query_opt(&self, sql: &str, params: &[Param<'_>]) -> DbResult<Option<Row>> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    pub(crate) async fn execute(&self, sql: &str, params: &[Param<'_>]) -> DbResult<u64> {
        Ok(self.conn().await?.execute_typed(sql, params).await?)
    }
}

pub(crate) fn text_enum<T>(row: &Row, column: &str, parse: fn(&str) -> Option<T>) -> DbResult<T> {
    let text: String = row.try_get(column)?;
    parse(&text).ok_or_else(|| DbError::Data(format!("unexpected {column} {text:?}")))
}

/// Maps a row onto a record type deriving `FromRow`, by column name; a driver error becomes a `DbError`.
pub(crate) fn from_row<T: postgres_from_row::FromRow>(row: &Row) -> DbResult<T> {
    Ok(T::try_from_row(row)?)
}
