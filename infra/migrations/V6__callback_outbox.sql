-- Callbacks due but not yet on the callbacks queue, written by the same statement as the change that makes them
-- due (a receipt, the 72-hour timeout, a complaint, an inbound text), so a queue failure or a crash between the
-- commit and the send cannot lose one. Rows hold no callback body: the relay rebuilds it from the row it is about,
-- so no personal data sits here in clear (the complaint recipient SES named is stored encrypted).
CREATE TABLE callback_outbox (
    id bigserial PRIMARY KEY,
    callback_type text NOT NULL CHECK (callback_type IN ('delivery_status', 'complaint', 'inbound_sms')),
    -- The notification (delivery_status), complaint or inbound text the callback is about.
    subject_id uuid NOT NULL,
    -- AES-256-GCM ciphertext of the complainant's address as SES gave it; NULL otherwise.
    encrypted_recipient text,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- A relay working on the row until then; NULL or past: free for the next relay.
    claimed_until timestamptz
);
