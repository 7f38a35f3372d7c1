-- Notify's core schema. Enumerations are text columns with CHECK constraints rather than custom types:
-- tokio-postgres caches named statements for custom types, and those pin RDS Proxy connections.

CREATE TABLE users (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    email_address text NOT NULL UNIQUE,
    mobile_number text,
    state text NOT NULL DEFAULT 'active' CHECK (state IN ('pending', 'active', 'inactive')),
    platform_admin boolean NOT NULL DEFAULT false,
    auth_type text NOT NULL DEFAULT 'sms_auth' CHECK (auth_type IN ('sms_auth', 'email_auth', 'webauthn_auth')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz
);

CREATE TABLE services (
    id uuid PRIMARY KEY,
    name text NOT NULL UNIQUE,
    normalised_service_name text NOT NULL UNIQUE,
    email_sender_local_part text NOT NULL,
    custom_email_sender_name text,
    active boolean NOT NULL DEFAULT true,
    restricted boolean NOT NULL DEFAULT true,
    created_by_id uuid REFERENCES users (id),
    prefix_sms boolean NOT NULL DEFAULT true,
    organisation_type text,
    crown boolean,
    rate_limit integer NOT NULL DEFAULT 3000 CHECK (rate_limit > 0),
    contact_link text,
    email_message_limit bigint NOT NULL DEFAULT 999999999,
    sms_message_limit bigint NOT NULL DEFAULT 999999999,
    letter_message_limit bigint NOT NULL DEFAULT 999999999,
    international_sms_message_limit bigint NOT NULL DEFAULT 250000,
    count_as_live boolean NOT NULL DEFAULT true,
    go_live_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz,
    version integer NOT NULL DEFAULT 1
);

CREATE TABLE services_history (LIKE services INCLUDING DEFAULTS, PRIMARY KEY (id, version));

CREATE TABLE service_permissions (
    service_id uuid NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    permission text NOT NULL CHECK (permission IN ('sms', 'email', 'letter', 'international_sms', 'inbound_sms',
        'email_auth', 'edit_folder_permissions', 'international_letters', 'sms_to_uk_landlines')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service_id, permission)
);

CREATE TABLE user_to_service (
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    service_id uuid NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, service_id)
);
CREATE INDEX ix_user_to_service_service ON user_to_service (service_id);

CREATE TABLE permissions (
    id uuid PRIMARY KEY,
    service_id uuid REFERENCES services (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    permission text NOT NULL CHECK (permission IN ('manage_users', 'manage_templates', 'manage_settings',
        'send_texts', 'send_emails', 'send_letters', 'manage_api_keys', 'platform_admin', 'view_activity')),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (service_id, user_id, permission)
);

CREATE TABLE service_whitelist (
    id uuid PRIMARY KEY,
    service_id uuid NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    recipient_type text NOT NULL CHECK (recipient_type IN ('mobile', 'email')),
    recipient text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_service_whitelist_service ON service_whitelist (service_id);

CREATE TABLE inbound_numbers (
    id uuid PRIMARY KEY,
    number varchar(255) NOT NULL UNIQUE,
    provider text NOT NULL,
    service_id uuid UNIQUE REFERENCES services (id) ON DELETE SET NULL,
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz
);

CREATE TABLE service_sms_senders (
    id uuid PRIMARY KEY,
    sms_sender varchar(11) NOT NULL,
    service_id uuid NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    is_default boolean NOT NULL DEFAULT true,
    archived boolean NOT NULL DEFAULT false,
    inbound_number_id uuid UNIQUE REFERENCES inbound_numbers (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz
);
CREATE INDEX ix_service_sms_senders_service ON service_sms_senders (service_id);
CREATE UNIQUE INDEX uq_service_sms_senders_default ON service_sms_senders (service_id)
    WHERE is_default AND NOT archived;

CREATE TABLE service_email_reply_to (
    id uuid PRIMARY KEY,
    service_id uuid NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    email_address text NOT NULL,
    is_default boolean NOT NULL DEFAULT true,
    archived boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz
);
CREATE INDEX ix_service_email_reply_to_service ON service_email_reply_to (service_id);

CREATE TABLE service_letter_contacts (
    id uuid PRIMARY KEY,
    service_id uuid NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    contact_block text NOT NULL,
    is_default boolean NOT NULL DEFAULT true,
    archived boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz
);
CREATE INDEX ix_service_letter_contacts_service ON service_letter_contacts (service_id);

CREATE TABLE service_data_retention (
    id uuid PRIMARY KEY,
    service_id uuid NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    notification_type text NOT NULL CHECK (notification_type IN ('sms', 'email', 'letter')),
    days_of_retention integer NOT NULL CHECK (days_of_retention BETWEEN 3 AND 90),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz,
    UNIQUE (service_id, notification_type)
);

CREATE TABLE api_keys (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    -- AES-256-GCM ciphertext of the secret: HMAC verification needs the plain secret back.
    secret text NOT NULL UNIQUE,
    service_id uuid NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    key_type text NOT NULL CHECK (key_type IN ('normal', 'team', 'test')),
    expiry_date timestamptz,
    created_by_id uuid REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz,
    version integer NOT NULL DEFAULT 1
);
CREATE INDEX ix_api_keys_service ON api_keys (service_id);
CREATE UNIQUE INDEX uq_api_keys_name_live ON api_keys (service_id, name) WHERE expiry_date IS NULL;

CREATE TABLE api_keys_history (LIKE api_keys INCLUDING DEFAULTS, PRIMARY KEY (id, version));

CREATE TABLE templates (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    template_type text NOT NULL CHECK (template_type IN ('sms', 'email', 'letter')),
    content text NOT NULL,
    subject text,
    archived boolean NOT NULL DEFAULT false,
    hidden boolean NOT NULL DEFAULT false,
    postage text CHECK (postage IN ('first', 'second', 'economy', 'europe', 'rest-of-world')),
    service_id uuid NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    created_by_id uuid REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz,
    version integer NOT NULL DEFAULT 1,
    service_letter_contact_id uuid REFERENCES service_letter_contacts (id),
    has_unsubscribe_link boolean NOT NULL DEFAULT false,
    process_type text NOT NULL DEFAULT 'normal' CHECK (process_type IN ('normal', 'priority'))
);
CREATE INDEX ix_templates_service ON templates (service_id, name);

-- Every version ever published: notifications point at (template_id, template_version).
CREATE TABLE templates_history (
    id uuid NOT NULL,
    version integer NOT NULL,
    name text NOT NULL,
    template_type text NOT NULL,
    content text NOT NULL,
    subject text,
    archived boolean NOT NULL DEFAULT false,
    hidden boolean NOT NULL DEFAULT false,
    postage text,
    service_id uuid NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    created_by_id uuid REFERENCES users (id),
    created_at timestamptz NOT NULL,
    updated_at timestamptz,
    service_letter_contact_id uuid,
    letter_contact_block text,
    has_unsubscribe_link boolean NOT NULL DEFAULT false,
    process_type text NOT NULL DEFAULT 'normal',
    PRIMARY KEY (id, version)
);

CREATE TABLE jobs (
    id uuid PRIMARY KEY,
    original_file_name text NOT NULL,
    service_id uuid NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    template_id uuid NOT NULL,
    template_version integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz,
    notification_count integer NOT NULL DEFAULT 0,
    notifications_sent integer NOT NULL DEFAULT 0,
    notifications_delivered integer NOT NULL DEFAULT 0,
    notifications_failed integer NOT NULL DEFAULT 0,
    processing_started timestamptz,
    processing_finished timestamptz,
    created_by_id uuid REFERENCES users (id),
    scheduled_for timestamptz,
    job_status text NOT NULL DEFAULT 'pending' CHECK (job_status IN ('pending', 'in progress', 'finished',
        'finished all notifications created', 'sending limits exceeded', 'scheduled', 'cancelled',
        'ready to send', 'sent to dvla', 'error')),
    archived boolean NOT NULL DEFAULT false,
    FOREIGN KEY (template_id, template_version) REFERENCES templates_history (id, version)
);
CREATE INDEX ix_jobs_service ON jobs (service_id, created_at);

CREATE TABLE notifications (
    id uuid PRIMARY KEY,
    "to" text NOT NULL,
    normalised_to text,
    job_id uuid REFERENCES jobs (id),
    job_row_number integer,
    service_id uuid NOT NULL REFERENCES services (id),
    template_id uuid NOT NULL,
    template_version integer NOT NULL,
    api_key_id uuid REFERENCES api_keys (id),
    key_type text NOT NULL CHECK (key_type IN ('normal', 'team', 'test')),
    billable_units integer NOT NULL DEFAULT 0,
    notification_type text NOT NULL CHECK (notification_type IN ('sms', 'email', 'letter')),
    created_at timestamptz NOT NULL,
    sent_at timestamptz,
    sent_by text,
    updated_at timestamptz,
    notification_status text NOT NULL DEFAULT 'created' CHECK (notification_status IN ('cancelled', 'created',
        'sending', 'sent', 'delivered', 'pending', 'failed', 'technical-failure', 'temporary-failure',
        'permanent-failure', 'pending-virus-check', 'validation-failed', 'virus-scan-failed', 'returned-letter')),
    reference text,
    client_reference text,
    -- AES-256-GCM ciphertext of the personalisation JSON: it is personal data.
    personalisation text,
    international boolean NOT NULL DEFAULT false,
    phone_prefix text,
    rate_multiplier double precision,
    created_by_id uuid REFERENCES users (id),
    reply_to_text text,
    document_download_count integer,
    postage text CHECK (postage IN ('first', 'second', 'economy', 'europe', 'rest-of-world')),
    unsubscribe_link text,
    UNIQUE (job_id, job_row_number),
    FOREIGN KEY (template_id, template_version) REFERENCES templates_history (id, version)
);
-- GET /v2/notifications: service + key type, newest first (older_than pages by created_at).
CREATE INDEX ix_notifications_service_key_type_created ON notifications (service_id, key_type, created_at DESC);
CREATE INDEX ix_notifications_service_type_created ON notifications (service_id, notification_type, created_at);
CREATE INDEX ix_notifications_client_reference ON notifications (service_id, client_reference)
    WHERE client_reference IS NOT NULL;
-- Provider receipts look notifications up by the provider's reference.
CREATE INDEX ix_notifications_reference ON notifications (reference) WHERE reference IS NOT NULL;
CREATE INDEX ix_notifications_job ON notifications (job_id) WHERE job_id IS NOT NULL;
-- Housekeeping: replay of `created`, timeout of `sending`/`pending`.
CREATE INDEX ix_notifications_status_created ON notifications (notification_status, created_at);

-- Letter PDFs sent precompiled, served back byte-for-byte by GET /v2/notifications/{id}/pdf.
CREATE TABLE notification_letter_pdfs (
    notification_id uuid PRIMARY KEY REFERENCES notifications (id) ON DELETE CASCADE,
    pdf bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notification_history (
    id uuid PRIMARY KEY,
    job_id uuid,
    job_row_number integer,
    service_id uuid NOT NULL,
    template_id uuid NOT NULL,
    template_version integer NOT NULL,
    api_key_id uuid,
    key_type text NOT NULL,
    billable_units integer NOT NULL DEFAULT 0,
    notification_type text NOT NULL,
    created_at timestamptz NOT NULL,
    sent_at timestamptz,
    sent_by text,
    updated_at timestamptz,
    notification_status text NOT NULL,
    reference text,
    client_reference text,
    international boolean NOT NULL DEFAULT false,
    phone_prefix text,
    rate_multiplier double precision,
    created_by_id uuid,
    postage text,
    document_download_count integer
);
CREATE INDEX ix_notification_history_service_created ON notification_history (service_id, created_at);

CREATE TABLE inbound_sms (
    id uuid PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    service_id uuid NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    notify_number text NOT NULL,
    user_number text NOT NULL,
    provider_date timestamptz,
    provider_reference text,
    provider text NOT NULL,
    -- AES-256-GCM ciphertext: message text is personal data.
    content text NOT NULL
);
CREATE INDEX ix_inbound_sms_service_created ON inbound_sms (service_id, created_at DESC);

CREATE TABLE inbound_sms_history (
    id uuid PRIMARY KEY,
    created_at timestamptz NOT NULL,
    service_id uuid NOT NULL,
    notify_number text NOT NULL,
    provider_date timestamptz,
    provider_reference text,
    provider text NOT NULL
);

CREATE TABLE service_callback_api (
    id uuid PRIMARY KEY,
    service_id uuid NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    url text NOT NULL,
    callback_type text NOT NULL CHECK (callback_type IN ('delivery_status', 'complaint', 'returned_letter', 'inbound_sms')),
    -- AES-256-GCM ciphertext: the token is sent to the service, so it must be recoverable.
    bearer_token text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz,
    updated_by_id uuid REFERENCES users (id),
    version integer NOT NULL DEFAULT 1,
    UNIQUE (service_id, callback_type)
);

CREATE TABLE service_callback_api_history (LIKE service_callback_api INCLUDING DEFAULTS, PRIMARY KEY (id, version));

CREATE TABLE provider_details (
    id uuid PRIMARY KEY,
    display_name text NOT NULL,
    identifier text NOT NULL UNIQUE,
    priority integer NOT NULL CHECK (priority BETWEEN 0 AND 100),
    notification_type text NOT NULL CHECK (notification_type IN ('sms', 'email', 'letter')),
    active boolean NOT NULL DEFAULT true,
    supports_international boolean NOT NULL DEFAULT false,
    version integer NOT NULL DEFAULT 1,
    updated_at timestamptz,
    created_by_id uuid REFERENCES users (id)
);

CREATE TABLE provider_details_history (LIKE provider_details INCLUDING DEFAULTS, PRIMARY KEY (id, version));

CREATE TABLE rates (
    id uuid PRIMARY KEY,
    valid_from timestamptz NOT NULL,
    rate double precision NOT NULL,
    notification_type text NOT NULL CHECK (notification_type IN ('sms', 'email', 'letter'))
);
CREATE INDEX ix_rates_type_valid_from ON rates (notification_type, valid_from DESC);

CREATE TABLE letter_rates (
    id uuid PRIMARY KEY,
    start_date timestamptz NOT NULL,
    end_date timestamptz,
    sheet_count integer NOT NULL,
    rate double precision NOT NULL,
    crown boolean NOT NULL,
    post_class text NOT NULL CHECK (post_class IN ('first', 'second', 'economy', 'europe', 'rest-of-world'))
);
CREATE INDEX ix_letter_rates_lookup ON letter_rates (post_class, sheet_count, start_date DESC);

CREATE TABLE complaints (
    id uuid PRIMARY KEY,
    notification_id uuid NOT NULL,
    service_id uuid NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    ses_feedback_id text,
    complaint_type text,
    complaint_date timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Reference data: the providers Notify ships with and the published prices.
INSERT INTO provider_details (id, display_name, identifier, priority, notification_type, active, supports_international) VALUES
    ('6e9b9a42-6f2c-4a0e-8f5c-3a6f5f1c0001', 'MMG', 'mmg', 51, 'sms', true, true),
    ('6e9b9a42-6f2c-4a0e-8f5c-3a6f5f1c0002', 'Firetext', 'firetext', 49, 'sms', true, false),
    ('6e9b9a42-6f2c-4a0e-8f5c-3a6f5f1c0003', 'AWS SES', 'ses', 100, 'email', true, false),
    ('6e9b9a42-6f2c-4a0e-8f5c-3a6f5f1c0004', 'DVLA', 'dvla', 100, 'letter', true, false);

INSERT INTO rates (id, valid_from, rate, notification_type) VALUES
    ('0b6d2a1e-3f0e-4c6b-9e21-6d0b7a6f0001', '2016-05-01T00:00:00Z', 0.0165, 'sms'),
    ('0b6d2a1e-3f0e-4c6b-9e21-6d0b7a6f0002', '2023-04-01T00:00:00Z', 0.0197, 'sms'),
    ('0b6d2a1e-3f0e-4c6b-9e21-6d0b7a6f0003', '2025-04-01T00:00:00Z', 0.0227, 'sms');

INSERT INTO letter_rates (id, start_date, end_date, sheet_count, rate, crown, post_class)
SELECT gen_random_uuid(), '2024-04-01T00:00:00Z', NULL, s.sheets, r.base + (s.sheets - 1) * 0.05, c.crown, r.post_class
FROM (VALUES (1), (2), (3), (4), (5)) AS s (sheets),
     (VALUES ('first', 1.05), ('second', 0.66), ('economy', 0.61), ('europe', 1.70), ('rest-of-world', 1.70))
         AS r (post_class, base),
     (VALUES (true), (false)) AS c (crown);
