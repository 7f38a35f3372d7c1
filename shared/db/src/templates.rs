use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::{Db, DbError, DbResult, text_enum};
use notify_core::model::{LetterLanguages, NotificationType, Postage, Template};

#[derive(Clone, Debug)]
pub struct NewTemplate {
    pub id: Uuid,
    pub service_id: Uuid,
    pub name: String,
    pub template_type: NotificationType,
    pub content: String,
    pub subject: Option<String>,
    pub postage: Option<Postage>,
    pub hidden: bool,
    pub created_by_id: Option<Uuid>,
    pub service_letter_contact_id: Option<Uuid>,
    pub has_unsubscribe_link: bool,
    pub letter_languages: LetterLanguages,
    pub letter_welsh_subject: Option<String>,
    pub letter_welsh_content: Option<String>,
}

/// An edit publishes a new version; `None` keeps the field.
#[derive(Clone, Debug, Default)]
pub struct TemplateUpdate {
    pub name: Option<String>,
    pub content: Option<String>,
    pub subject: Option<String>,
    pub postage: Option<Postage>,
    pub archived: Option<bool>,
    pub service_letter_contact_id: Option<Option<Uuid>>,
    pub has_unsubscribe_link: Option<bool>,
    pub created_by_id: Option<Uuid>,
    /// Set together: the languages and both Welsh fields (`None` inside clears them, for English only).
    pub letter_languages: Option<(LetterLanguages, Option<String>, Option<String>)>,
}

const TEMPLATE_COLUMNS: &str = "h.id, h.service_id, h.version, h.name, h.template_type, h.content, h.subject, \
    t.archived, t.hidden, h.postage, h.letter_contact_block, h.has_unsubscribe_link, h.created_at, h.updated_at, \
    u.email_address AS created_by_email, h.letter_languages, h.letter_welsh_subject, h.letter_welsh_content";

fn template_from_row(row: &Row) -> DbResult<Template> {
    let postage: Option<String> = row.try_get("postage")?;
    Ok(Template {
        id: row.try_get("id")?,
        service_id: row.try_get("service_id")?,
        version: row.try_get("version")?,
        name: row.try_get("name")?,
        template_type: text_enum(row, "template_type", NotificationType::parse)?,
        content: row.try_get("content")?,
        subject: row.try_get("subject")?,
        archived: row.try_get("archived")?,
        hidden: row.try_get("hidden")?,
        postage: postage.as_deref().and_then(Postage::parse),
        letter_contact_block: row.try_get("letter_contact_block")?,
        has_unsubscribe_link: row.try_get("has_unsubscribe_link")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        created_by_email: row.try_get("created_by_email")?,
        letter_languages: text_enum(row, "letter_languages", LetterLanguages::parse)?,
        letter_welsh_subject: row.try_get("letter_welsh_subject")?,
        letter_welsh_content: row.try_get("letter_welsh_content")?,
    })
}

/// Snapshots the current row into `templates_history`, with the letter contact block's text as it is now.
const SNAPSHOT: &str = "INSERT INTO templates_history (id, version, name, template_type, content, subject, archived, \
        hidden, postage, service_id, created_by_id, created_at, updated_at, service_letter_contact_id, \
        letter_contact_block, has_unsubscribe_link, process_type, letter_languages, letter_welsh_subject, \
        letter_welsh_content) \
    SELECT t.id, t.version, t.name, t.template_type, t.content, t.subject, t.archived, t.hidden, t.postage, \
        t.service_id, t.created_by_id, COALESCE(t.updated_at, t.created_at), t.updated_at, t.service_letter_contact_id, \
        c.contact_block, t.has_unsubscribe_link, t.process_type, t.letter_languages, t.letter_welsh_subject, \
        t.letter_welsh_content \
    FROM templates t LEFT JOIN service_letter_contacts c ON c.id = t.service_letter_contact_id WHERE t.id = $1";

impl Db {
    /// A template of the service (never a hidden one), at `version` or the current one.
    pub async fn get_template(
        &self,
        service_id: Uuid,
        template_id: Uuid,
        version: Option<i32>,
    ) -> DbResult<Option<Template>> {
        let sql = format!(
            "SELECT {TEMPLATE_COLUMNS} FROM templates t \
             JOIN templates_history h ON h.id = t.id AND h.version = COALESCE($3, t.version) \
             LEFT JOIN users u ON u.id = h.created_by_id \
             WHERE t.id = $1 AND t.service_id = $2 AND NOT t.hidden"
        );
        self.query_opt(
            &sql,
            &[
                (&template_id, Type::UUID),
                (&service_id, Type::UUID),
                (&version, Type::INT4),
            ],
        )
        .await?
        .map(|r| template_from_row(&r))
        .transpose()
    }

    /// The service's hidden template for precompiled letters, created on first use.
    pub async fn precompiled_letter_template(&self, service_id: Uuid) -> DbResult<Template> {
        let find = format!(
            "SELECT {TEMPLATE_COLUMNS} FROM templates t JOIN templates_history h ON h.id = t.id AND h.version = t.version \
             LEFT JOIN users u ON u.id = h.created_by_id \
             WHERE t.service_id = $1 AND t.hidden AND t.template_type = 'letter' AND t.name = 'Pre-compiled PDF'"
        );
        if let Some(row) = self.query_opt(&find, &[(&service_id, Type::UUID)]).await? {
            return template_from_row(&row);
        }
        let new = NewTemplate {
            id: Uuid::new_v4(),
            service_id,
            name: "Pre-compiled PDF".into(),
            template_type: NotificationType::Letter,
            content: String::new(),
            subject: Some("Pre-compiled PDF".into()),
            postage: Some(Postage::Second),
            hidden: true,
            created_by_id: None,
            service_letter_contact_id: None,
            has_unsubscribe_link: false,
            letter_languages: LetterLanguages::English,
            letter_welsh_subject: None,
            letter_welsh_content: None,
        };
        match self.create_template(&new).await {
            Ok(_) => {}
            // Two first sends at once: the other one created it.
            Err(e) if e.unique_violation().is_some() => {}
            Err(e) => return Err(e),
        }
        let row = self
            .query_opt(&find, &[(&service_id, Type::UUID)])
            .await?
            .ok_or_else(|| DbError::Data("precompiled template vanished".into()))?;
        template_from_row(&row)
    }

    pub async fn create_template(&self, new: &NewTemplate) -> DbResult<Template> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        tx.execute_typed(
            "INSERT INTO templates (id, service_id, name, template_type, content, subject, postage, hidden, \
                 created_by_id, service_letter_contact_id, has_unsubscribe_link, letter_languages, \
                 letter_welsh_subject, letter_welsh_content) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            &[
                (&new.id, Type::UUID),
                (&new.service_id, Type::UUID),
                (&new.name, Type::TEXT),
                (&new.template_type.as_str(), Type::TEXT),
                (&new.content, Type::TEXT),
                (&new.subject, Type::TEXT),
                (&new.postage.map(Postage::as_str), Type::TEXT),
                (&new.hidden, Type::BOOL),
                (&new.created_by_id, Type::UUID),
                (&new.service_letter_contact_id, Type::UUID),
                (&new.has_unsubscribe_link, Type::BOOL),
                (&new.letter_languages.as_str(), Type::TEXT),
                (&new.letter_welsh_subject, Type::TEXT),
                (&new.letter_welsh_content, Type::TEXT),
            ],
        )
        .await?;
        tx.execute_typed(SNAPSHOT, &[(&new.id, Type::UUID)]).await?;
        tx.commit().await?;
        drop(conn);
        self.template_version_any(new.service_id, new.id, None)
            .await
    }

    pub async fn update_template(
        &self,
        service_id: Uuid,
        template_id: Uuid,
        update: &TemplateUpdate,
    ) -> DbResult<Option<Template>> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        let contact_given = update.service_letter_contact_id.is_some();
        let contact = update.service_letter_contact_id.flatten();
        let languages_given = update.letter_languages.is_some();
        let (languages, welsh_subject, welsh_content) = match &update.letter_languages {
            Some((languages, subject, content)) => {
                (Some(languages.as_str()), subject.clone(), content.clone())
            }
            None => (None, None, None),
        };
        let n = tx
            .execute_typed(
                "UPDATE templates SET name = COALESCE($3, name), content = COALESCE($4, content), \
                     subject = COALESCE($5, subject), postage = COALESCE($6, postage), \
                     archived = COALESCE($7, archived), \
                     service_letter_contact_id = CASE WHEN $8 THEN $9 ELSE service_letter_contact_id END, \
                     has_unsubscribe_link = COALESCE($10, has_unsubscribe_link), \
                     created_by_id = COALESCE($11, created_by_id), \
                     letter_languages = CASE WHEN $12 THEN $13 ELSE letter_languages END, \
                     letter_welsh_subject = CASE WHEN $12 THEN $14 ELSE letter_welsh_subject END, \
                     letter_welsh_content = CASE WHEN $12 THEN $15 ELSE letter_welsh_content END, \
                     updated_at = now(), version = version + 1 \
                 WHERE id = $1 AND service_id = $2",
                &[
                    (&template_id, Type::UUID),
                    (&service_id, Type::UUID),
                    (&update.name, Type::TEXT),
                    (&update.content, Type::TEXT),
                    (&update.subject, Type::TEXT),
                    (&update.postage.map(Postage::as_str), Type::TEXT),
                    (&update.archived, Type::BOOL),
                    (&contact_given, Type::BOOL),
                    (&contact, Type::UUID),
                    (&update.has_unsubscribe_link, Type::BOOL),
                    (&update.created_by_id, Type::UUID),
                    (&languages_given, Type::BOOL),
                    (&languages, Type::TEXT),
                    (&welsh_subject, Type::TEXT),
                    (&welsh_content, Type::TEXT),
                ],
            )
            .await?;
        if n == 0 {
            return Ok(None);
        }
        tx.execute_typed(SNAPSHOT, &[(&template_id, Type::UUID)])
            .await?;
        tx.commit().await?;
        drop(conn);
        self.template_version_any(service_id, template_id, None)
            .await
            .map(Some)
    }

    /// Like [`Db::get_template`] but hidden templates too: for the admin API.
    async fn template_version_any(
        &self,
        service_id: Uuid,
        template_id: Uuid,
        version: Option<i32>,
    ) -> DbResult<Template> {
        let sql = format!(
            "SELECT {TEMPLATE_COLUMNS} FROM templates t \
             JOIN templates_history h ON h.id = t.id AND h.version = COALESCE($3, t.version) \
             LEFT JOIN users u ON u.id = h.created_by_id WHERE t.id = $1 AND t.service_id = $2"
        );
        let row = self
            .query_opt(
                &sql,
                &[
                    (&template_id, Type::UUID),
                    (&service_id, Type::UUID),
                    (&version, Type::INT4),
                ],
            )
            .await?
            .ok_or_else(|| DbError::Data("template vanished".into()))?;
        template_from_row(&row)
    }

    /// Current versions of the service's visible, unarchived templates, by name then type.
    pub async fn list_templates(
        &self,
        service_id: Uuid,
        template_type: Option<NotificationType>,
    ) -> DbResult<Vec<Template>> {
        let sql = format!(
            "SELECT {TEMPLATE_COLUMNS} FROM templates t JOIN templates_history h ON h.id = t.id AND h.version = t.version \
             LEFT JOIN users u ON u.id = h.created_by_id \
             WHERE t.service_id = $1 AND NOT t.hidden AND NOT t.archived \
               AND ($2::text IS NULL OR t.template_type = $2) \
             ORDER BY t.name, t.template_type"
        );
        let template_type = template_type.map(NotificationType::as_str);
        self.query(
            &sql,
            &[(&service_id, Type::UUID), (&template_type, Type::TEXT)],
        )
        .await?
        .iter()
        .map(template_from_row)
        .collect()
    }

    pub async fn template_versions(
        &self,
        service_id: Uuid,
        template_id: Uuid,
    ) -> DbResult<Vec<Template>> {
        let sql = format!(
            "SELECT {TEMPLATE_COLUMNS} FROM templates t JOIN templates_history h ON h.id = t.id \
             LEFT JOIN users u ON u.id = h.created_by_id \
             WHERE t.id = $1 AND t.service_id = $2 ORDER BY h.version DESC"
        );
        self.query(
            &sql,
            &[(&template_id, Type::UUID), (&service_id, Type::UUID)],
        )
        .await?
        .iter()
        .map(template_from_row)
        .collect()
    }
}
