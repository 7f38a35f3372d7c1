-- Letters managed after they are sent: a returned letter calls the service back through the outbox like the
-- other callbacks, and letter brandings record who made and changed them (upstream's created_by_id /
-- updated_by_id).
ALTER TABLE callback_outbox DROP CONSTRAINT callback_outbox_callback_type_check;
ALTER TABLE callback_outbox ADD CONSTRAINT callback_outbox_callback_type_check
    CHECK (callback_type IN ('delivery_status', 'complaint', 'inbound_sms', 'returned_letter'));

ALTER TABLE letter_branding
    ADD COLUMN created_by_id uuid REFERENCES users (id),
    ADD COLUMN updated_by_id uuid REFERENCES users (id);

-- Returned-letter lists name letters by their 16-character reference; history rows too once purged.
CREATE INDEX ix_notification_history_reference ON notification_history (reference) WHERE reference IS NOT NULL;
