-- Daily facts, rebuilt nightly for recent days, that statistics and billing read instead of scanning
-- notifications. Days are London days (`bst_date`), as Notify's.
CREATE TABLE ft_notification_status (
    bst_date date NOT NULL,
    template_id uuid NOT NULL,
    service_id uuid NOT NULL,
    job_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    notification_type text NOT NULL,
    key_type text NOT NULL,
    notification_status text NOT NULL,
    notification_count integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bst_date, template_id, service_id, job_id, notification_type, key_type, notification_status)
);
CREATE INDEX ix_ft_notification_status_service_date ON ft_notification_status (service_id, bst_date);

CREATE TABLE ft_billing (
    bst_date date NOT NULL,
    template_id uuid NOT NULL,
    service_id uuid NOT NULL,
    notification_type text NOT NULL,
    provider text NOT NULL,
    rate_multiplier double precision NOT NULL,
    international boolean NOT NULL,
    rate double precision NOT NULL,
    postage text NOT NULL,
    billable_units integer NOT NULL,
    notifications_sent integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bst_date, template_id, service_id, notification_type, provider, rate_multiplier, international,
        rate, postage)
);
CREATE INDEX ix_ft_billing_service_date ON ft_billing (service_id, bst_date);
