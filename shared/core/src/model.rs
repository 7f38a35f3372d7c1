//! Notify's vocabulary as types: what a service, template, key and notification are.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $text)] $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// The channel of a template and of a notification.
    NotificationType { Sms => "sms", Email => "email", Letter => "letter" }
);

text_enum!(
    /// A CSV job's status, upstream's `job_status` table.
    JobStatus {
        Pending => "pending",
        InProgress => "in progress",
        Finished => "finished",
        FinishedAllNotificationsCreated => "finished all notifications created",
        SendingLimitsExceeded => "sending limits exceeded",
        Scheduled => "scheduled",
        Cancelled => "cancelled",
        ReadyToSend => "ready to send",
        SentToDvla => "sent to dvla",
        Error => "error",
    }
);

text_enum!(
    /// What an email branding puts above the body (upstream's `branding_type`): the GOV.UK banner (`govuk`, what a
    /// service without an email branding gets), the organisation's logo, colour and text (`org`), both of those
    /// (`both`), or the logo on a banner in the organisation's colour (`org_banner`).
    BrandType { Govuk => "govuk", Org => "org", Both => "both", OrgBanner => "org_banner" }
);

text_enum!(
    /// live ("normal"), team-and-guest-list, and test keys.
    KeyType { Normal => "normal", Team => "team", Test => "test" }
);

text_enum!(
    NotificationStatus {
        Cancelled => "cancelled",
        Created => "created",
        Sending => "sending",
        Sent => "sent",
        Delivered => "delivered",
        Pending => "pending",
        Failed => "failed",
        TechnicalFailure => "technical-failure",
        TemporaryFailure => "temporary-failure",
        PermanentFailure => "permanent-failure",
        PendingVirusCheck => "pending-virus-check",
        ValidationFailed => "validation-failed",
        VirusScanFailed => "virus-scan-failed",
        ReturnedLetter => "returned-letter",
    }
);

text_enum!(
    Postage { First => "first", Second => "second", Economy => "economy", Europe => "europe", RestOfWorld => "rest-of-world" }
);

text_enum!(
    /// Which versions a letter template prints (upstream `letter_languages`): Welsh first, then English.
    LetterLanguages { English => "english", WelshThenEnglish => "welsh_then_english" }
);

// Written out: `text_enum!` makes the variants, so `#[default]` cannot be put on one.
#[allow(clippy::derivable_impls)]
impl Default for LetterLanguages {
    fn default() -> Self {
        LetterLanguages::English
    }
}

text_enum!(
    ServicePermission {
        Sms => "sms",
        Email => "email",
        Letter => "letter",
        InternationalSms => "international_sms",
        InboundSms => "inbound_sms",
        EmailAuth => "email_auth",
        EditFolderPermissions => "edit_folder_permissions",
        InternationalLetters => "international_letters",
        SmsToUkLandlines => "sms_to_uk_landlines",
    }
);

text_enum!(
    CallbackType {
        DeliveryStatus => "delivery_status",
        Complaint => "complaint",
        ReturnedLetter => "returned_letter",
        InboundSms => "inbound_sms",
    }
);

text_enum!(
    /// The daily send limits (contract §8), named as the limit message and the counters' keys name them.
    LimitName {
        Sms => "sms",
        Email => "email",
        Letter => "letter",
        InternationalSms => "international_sms",
    }
);

text_enum!(
    /// What a team member's or guest-list entry's recipient is, as `service_whitelist.recipient_type` stores it.
    RecipientKind { Mobile => "mobile", Email => "email" }
);

impl LimitName {
    /// A channel's own daily limit.
    pub fn of(notification_type: NotificationType) -> Self {
        match notification_type {
            NotificationType::Sms => LimitName::Sms,
            NotificationType::Email => LimitName::Email,
            NotificationType::Letter => LimitName::Letter,
        }
    }
}

impl KeyType {
    /// How the rate-limit message names the key type.
    pub fn rate_limit_label(self) -> &'static str {
        match self {
            KeyType::Normal => "LIVE",
            KeyType::Team => "TEAM",
            KeyType::Test => "TEST",
        }
    }
}

impl NotificationStatus {
    /// The statuses after which `completed_at` is reported.
    pub fn is_completed(self) -> bool {
        use NotificationStatus::*;
        matches!(
            self,
            Sent | Delivered
                | Failed
                | TechnicalFailure
                | TemporaryFailure
                | PermanentFailure
                | ReturnedLetter
                | Cancelled
                | ValidationFailed
        )
    }

    /// The statuses that mean the recipient never got it.
    pub fn is_failure(self) -> bool {
        use NotificationStatus::*;
        matches!(
            self,
            Failed | TechnicalFailure | TemporaryFailure | PermanentFailure | ValidationFailed
        )
    }

    /// Letters show their own public vocabulary.
    pub fn public(self, notification_type: NotificationType) -> &'static str {
        use NotificationStatus::*;
        match (notification_type, self) {
            (NotificationType::Letter, Created | Sending) => "accepted",
            (NotificationType::Letter, Delivered | ReturnedLetter) => "received",
            _ => self.as_str(),
        }
    }
}

impl NotificationType {
    pub fn permission(self) -> ServicePermission {
        match self {
            NotificationType::Sms => ServicePermission::Sms,
            NotificationType::Email => ServicePermission::Email,
            NotificationType::Letter => ServicePermission::Letter,
        }
    }

    /// As in `Service is not allowed to send text messages`.
    pub fn plural_noun(self) -> &'static str {
        match self {
            NotificationType::Sms => "text messages",
            NotificationType::Email => "emails",
            NotificationType::Letter => "letters",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Service {
    pub id: Uuid,
    pub name: String,
    pub active: bool,
    pub restricted: bool,
    pub prefix_sms: bool,
    pub rate_limit: i32,
    pub email_sender_local_part: String,
    pub contact_link: Option<String>,
    pub email_message_limit: i64,
    pub sms_message_limit: i64,
    pub letter_message_limit: i64,
    pub international_sms_message_limit: i64,
    pub permissions: Vec<ServicePermission>,
    pub crown: Option<bool>,
    pub created_at: DateTime<Utc>,
    /// The logo its letters carry (`letter_branding`); none: letters go without one.
    pub letter_branding_id: Option<Uuid>,
    /// What its emails carry above the body (`email_branding`); none: the GOV.UK banner.
    pub email_branding_id: Option<Uuid>,
}

impl Service {
    pub fn has_permission(&self, permission: ServicePermission) -> bool {
        self.permissions.contains(&permission)
    }

    /// The service's own value of a daily limit.
    pub fn limit(&self, name: LimitName) -> i64 {
        match name {
            LimitName::Sms => self.sms_message_limit,
            LimitName::Email => self.email_message_limit,
            LimitName::Letter => self.letter_message_limit,
            LimitName::InternationalSms => self.international_sms_message_limit,
        }
    }

    pub fn daily_limit(&self, notification_type: NotificationType) -> i64 {
        match notification_type {
            NotificationType::Sms => self.sms_message_limit,
            NotificationType::Email => self.email_message_limit,
            NotificationType::Letter => self.letter_message_limit,
        }
    }
}

/// A key as stored: the secret is still encrypted.
#[derive(Clone, Debug)]
pub struct StoredApiKey {
    pub id: Uuid,
    pub encrypted_secret: String,
    pub key_type: KeyType,
    pub expiry_date: Option<DateTime<Utc>>,
}

/// One version of a template, as notifications reference it.
#[derive(Clone, Debug)]
pub struct Template {
    pub id: Uuid,
    pub service_id: Uuid,
    pub version: i32,
    pub name: String,
    pub template_type: NotificationType,
    pub content: String,
    pub subject: Option<String>,
    pub archived: bool,
    pub hidden: bool,
    pub postage: Option<Postage>,
    pub letter_contact_block: Option<String>,
    pub has_unsubscribe_link: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
    pub created_by_email: Option<String>,
    pub letter_languages: LetterLanguages,
    pub letter_welsh_subject: Option<String>,
    pub letter_welsh_content: Option<String>,
}
