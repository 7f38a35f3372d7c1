//! `notify secrets re-encrypt`: every encrypted column sealed again with SECRET_KEY's first key, in bounded
//! batches of short statements (no transaction, nothing left on the session). Resumable: values already under the
//! first key are skipped, so a run stopped anywhere is finished by running it again.

use notify_core::crypto::Encryptor;
use notify_db::{Db, DbResult, ENCRYPTED_COLUMNS, EncryptedColumn};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ReEncrypted {
    pub rewritten: u64,
    /// Values none of the keys opens (logged by id): left as they are.
    pub unreadable: u64,
}

/// Values not yet under the first key, over every encrypted column (what the progress bar counts down).
pub async fn pending(db: &Db, encryptor: &Encryptor) -> DbResult<u64> {
    let mut total = 0;
    for col in ENCRYPTED_COLUMNS {
        total += db
            .count_stale_values(*col, encryptor.current_key_id())
            .await? as u64;
    }
    Ok(total)
}

/// Rewrites every encrypted column, then the key check, calling `progress` with the values handled per batch.
pub async fn re_encrypt(
    db: &Db,
    encryptor: &Encryptor,
    batch_size: i64,
    progress: &(dyn Fn(&EncryptedColumn, u64) + Sync),
) -> DbResult<ReEncrypted> {
    let mut done = ReEncrypted::default();
    for col in ENCRYPTED_COLUMNS {
        let mut cursor: Option<String> = None;
        loop {
            let batch = db
                .stored_values_after(
                    *col,
                    encryptor.current_key_id(),
                    cursor.as_deref(),
                    batch_size,
                )
                .await?;
            if batch.rows.is_empty() {
                break;
            }
            let mut rewrites = Vec::with_capacity(batch.rows.len());
            for (key, stored) in &batch.rows {
                match encryptor.reencrypt(stored) {
                    Ok(Some(new)) => rewrites.push((key.clone(), stored.clone(), new)),
                    Ok(None) => {}
                    Err(_) => {
                        done.unreadable += 1;
                        let id: &dyn std::fmt::Display =
                            if col.by_id { key } else { &"(history row)" };
                        notify_core::crypto::report_undecryptable(
                            &format!("{}.{}", col.table, col.column),
                            id,
                            &"-",
                        );
                    }
                }
            }
            if !rewrites.is_empty() {
                done.rewritten += db.replace_stored_values(*col, &rewrites).await?;
            }
            progress(col, batch.rows.len() as u64);
            cursor = batch.cursor;
        }
    }
    if let Some(check) = db.key_check().await?
        && let Ok(Some(new)) = encryptor.reencrypt(&check)
    {
        db.replace_key_check(&check, &new).await?;
    }
    Ok(done)
}
