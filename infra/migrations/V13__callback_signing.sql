-- Signed callbacks (Standard Webhooks): a service's signing secrets. The newest signs; during a rotation the
-- previous ones sign too until `expires_at` (set by the rotation to 24 hours on, or to now by ending it early), so
-- a receiver can move to the new secret without losing a callback.
CREATE TABLE service_callback_signing_secrets (
    id uuid PRIMARY KEY,
    service_id uuid NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    -- AES-256-GCM ciphertext of the `whsec_…` secret: it keys the signatures, so it must be recoverable.
    secret text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by_id uuid REFERENCES users (id),
    -- NULL: signs until rotated away. Past: signs no more (kept for the record of when it stopped).
    expires_at timestamptz
);
CREATE INDEX ix_service_callback_signing_secrets_service ON service_callback_signing_secrets (service_id, created_at);

-- A callback URL given with the send: that notification's delivery-status callbacks go there instead of the
-- service's callback URL.
ALTER TABLE notifications ADD COLUMN callback_url text CHECK (char_length(callback_url) <= 255);
ALTER TABLE notification_history ADD COLUMN callback_url text;

-- One secret without an end at a time: two concurrent creates (or rotations) cannot both add one.
CREATE UNIQUE INDEX ux_service_callback_signing_secrets_current ON service_callback_signing_secrets (service_id)
    WHERE expires_at IS NULL;
