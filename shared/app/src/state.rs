use std::sync::Arc;

use chrono::{DateTime, Utc};
use notify_config::ExposeSecret;
use uuid::Uuid;

use crate::cache::TtlCache;
use crate::idempotency::ClaimStore;
use crate::limits::Limiter;
use notify_config::Config;
use notify_core::crypto::Encryptor;
use notify_core::model::{Service, StoredApiKey, Template};
use notify_db::{Db, DbResult, SenderKind, SenderRecord};
use notify_files::{FileStore, LocalDirStore};
use notify_outbound::scan::Scanner;
use notify_queue::{InProcessQueue, Queue, SqsQueue};

/// Everything a request needs, built once per process (per Lambda execution environment).
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub encryptor: Encryptor,
    pub limiter: Arc<Limiter>,
    /// Which request holds an Idempotency-Key while it runs: beside the limiter, in Redis or in-process.
    pub claims: Arc<ClaimStore>,
    pub queue: Arc<dyn Queue>,
    /// Tests fix the time to check the ±30 s token window and daily limits.
    pub clock: fn() -> DateTime<Utc>,
    pub lookups: Arc<Lookups>,
    /// Letter PDFs and logos: S3 in AWS, `FILES_DIR` locally.
    pub files: Arc<dyn FileStore>,
    /// Scans files sent by email before they are stored: clamd (`CLAMD_ADDRESS`); none when it did not answer at
    /// start-up, and then such sends are refused (`notify_app::documents`).
    pub scanner: Option<Arc<dyn Scanner>>,
}

/// What every send reads, through a short-lived cache: one INSERT is then the only round trip of a send.
pub struct Lookups {
    services: TtlCache<Uuid, (Service, Vec<StoredApiKey>)>,
    templates: TtlCache<(Uuid, Uuid), Template>,
    senders: TtlCache<(SenderKind, Uuid, Option<Uuid>), SenderRecord>,
}

impl Lookups {
    pub fn new(ttl: std::time::Duration) -> Self {
        Lookups {
            services: TtlCache::new(ttl),
            templates: TtlCache::new(ttl),
            senders: TtlCache::new(ttl),
        }
    }

    pub async fn service_with_keys(
        &self,
        db: &Db,
        service_id: Uuid,
    ) -> DbResult<Option<(Service, Vec<StoredApiKey>)>> {
        self.services
            .get_or_load(service_id, db.service_with_keys(service_id))
            .await
    }

    /// The current version of a visible template.
    pub async fn template(
        &self,
        db: &Db,
        service_id: Uuid,
        template_id: Uuid,
    ) -> DbResult<Option<Template>> {
        self.templates
            .get_or_load(
                (service_id, template_id),
                db.get_template(service_id, template_id, None),
            )
            .await
    }

    pub async fn sender(
        &self,
        db: &Db,
        kind: SenderKind,
        service_id: Uuid,
        id: Option<Uuid>,
    ) -> DbResult<Option<SenderRecord>> {
        self.senders
            .get_or_load((kind, service_id, id), db.get_sender(kind, service_id, id))
            .await
    }
}

impl AppState {
    pub fn new(config: Config, db: Db, queue: Arc<dyn Queue>) -> Self {
        let limiter = match &config.api.redis_url {
            Some(url) => Limiter::redis(url).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "REDIS_URL unusable: limits kept in-process");
                Limiter::in_process()
            }),
            None => Limiter::in_process(),
        };
        let claims = match &config.api.redis_url {
            Some(url) => ClaimStore::redis(url).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "REDIS_URL unusable: idempotency keys claimed in-process");
                ClaimStore::in_process()
            }),
            None => ClaimStore::in_process(),
        };
        AppState {
            files: Arc::new(LocalDirStore::new(config.files.local_dir.clone())),
            lookups: Arc::new(Lookups::new(config.api.lookup_cache_ttl)),
            encryptor: Encryptor::new(config.secret_key.expose_secret()),
            config: Arc::new(config),
            db,
            limiter: Arc::new(limiter),
            claims: Arc::new(claims),
            queue,
            clock: Utc::now,
            scanner: None,
        }
    }

    /// From the environment: SQS when `SQS_ENDPOINT_URL` or an AWS runtime is present, in-process otherwise.
    pub async fn from_config(config: Config, application_name: &str) -> anyhow::Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let db = Db::pooled(
            &config.database,
            config.database.pool_size,
            application_name,
        )?;
        let use_sqs = config.queues.endpoint_url.is_some()
            || std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
        let queue: Arc<dyn Queue> = if use_sqs {
            Arc::new(SqsQueue::from_env(config.queues.endpoint_url.as_deref()).await)
        } else {
            Arc::new(InProcessQueue::default())
        };
        let files = notify_files::from_config(&config.files).await;
        // clamd whatever VIRUS_SCANNER says: GuardDuty scans stored objects, a minute later, and a document is
        // stored only sealed, so the send itself must have the verdict.
        let scanner = notify_outbound::scan::clamd::from_config(&config.scan).await;
        let state = AppState {
            files,
            scanner,
            ..AppState::new(config, db, queue)
        };
        state.check_secret_key().await?;
        Ok(state)
    }

    /// Refuses a `SECRET_KEY` that cannot open this database's key check, so a wrong key stops the process at
    /// start-up rather than failing every request. The first process to start writes the check; before that,
    /// an existing API key it cannot open refuses it too (a database made before the check existed).
    pub async fn check_secret_key(&self) -> anyhow::Result<()> {
        let refuse = |why: &str| {
            anyhow::anyhow!("SECRET_KEY does not decrypt this database's key check: {why}")
        };
        if let Some(sealed) = self.db.key_check().await? {
            if self.encryptor.opens_key_check(&sealed) {
                return Ok(());
            }
            return Err(refuse(
                "none of its keys opens the stored check (the database was made with another key; \
                 when rotating, keep the old key after the new one until `notify secrets re-encrypt` has run)",
            ));
        }
        if let Some(secret) = self.db.any_api_key_secret().await?
            && self.encryptor.decrypt(&secret).is_err()
        {
            return Err(refuse(
                "there is no check yet and none of its keys opens this database's API keys",
            ));
        }
        let sealed = self.encryptor.encrypt(notify_core::crypto::KEY_CHECK_PLAIN);
        // Not written: another process wrote it first (read it back), or migrations have not made its table yet.
        if !self.db.insert_key_check(&sealed).await?
            && let Some(stored) = self.db.key_check().await?
            && !self.encryptor.opens_key_check(&stored)
        {
            return Err(refuse("none of its keys opens the stored check"));
        }
        Ok(())
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }
}
