-- AWS End User Messaging SMS as a third SMS provider. It rests at 0: an operator who configures it gives it
-- weight (and the automatic shift may move weight to it when another provider keeps failing).
INSERT INTO provider_details (id, display_name, identifier, priority, notification_type, active, supports_international)
VALUES ('6e9b9a42-6f2c-4a0e-8f5c-3a6f5f1c0005', 'AWS End User Messaging SMS', 'aws-sms', 0, 'sms', true, true)
ON CONFLICT (identifier) DO NOTHING;

-- Receipts look notifications up by provider reference; complaints are deduplicated by SES feedback id.
CREATE UNIQUE INDEX IF NOT EXISTS uq_complaints_ses_feedback_id ON complaints (ses_feedback_id);
