-- The weight each SMS provider drifts back to (tend-providers-back-to-middle); starts at today's weight.
ALTER TABLE provider_details ADD COLUMN IF NOT EXISTS resting_priority integer;
UPDATE provider_details SET resting_priority = priority WHERE resting_priority IS NULL;
-- History rows keep the same columns in the same order.
ALTER TABLE provider_details_history ADD COLUMN IF NOT EXISTS resting_priority integer;

-- The replay and timeout jobs look for notifications still in flight, oldest first.
CREATE INDEX IF NOT EXISTS ix_notifications_in_flight ON notifications (notification_status, created_at)
    WHERE notification_status IN ('created', 'sending', 'pending');
-- The retention job looks for what is past retention, per type, oldest first.
CREATE INDEX IF NOT EXISTS ix_notifications_type_created ON notifications (notification_type, created_at);
