-- Letters, the third channel: rendered PDFs in the file store, print jobs, despatch, returns, branding, Welsh
-- templates and the current letter rates.

-- Welsh letters (upstream `letter_languages`): the Welsh version is printed first, then the English one.
ALTER TABLE templates
    ADD COLUMN letter_languages text NOT NULL DEFAULT 'english'
        CHECK (letter_languages IN ('english', 'welsh_then_english')),
    ADD COLUMN letter_welsh_subject text,
    ADD COLUMN letter_welsh_content text;
ALTER TABLE templates_history
    ADD COLUMN letter_languages text NOT NULL DEFAULT 'english',
    ADD COLUMN letter_welsh_subject text,
    ADD COLUMN letter_welsh_content text;

-- A service's letter logo; the file (SVG or PNG) lives in the file store under `filename`.
CREATE TABLE letter_branding (
    id uuid PRIMARY KEY,
    name text NOT NULL UNIQUE,
    filename text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz
);
-- services_history is written with `SELECT * FROM services`: both tables gain the column at the same position.
ALTER TABLE services ADD COLUMN letter_branding_id uuid REFERENCES letter_branding (id);
ALTER TABLE services_history ADD COLUMN letter_branding_id uuid;

-- A letter whose PDF is in the file store (templated: rendered; precompiled: once issue 13 moves them): what
-- GET /v2/notifications/{id}/pdf and the collation read. Gone with the notification; the bucket's lifecycle
-- rule removes the object.
CREATE TABLE letter_files (
    notification_id uuid PRIMARY KEY REFERENCES notifications (id) ON DELETE CASCADE,
    file_key text NOT NULL,
    page_count integer NOT NULL CHECK (page_count > 0),
    stored_at timestamptz NOT NULL DEFAULT now()
);

-- Why a letter failed validation (`letter-too-long`, and the precompiled checks' codes), shown to admin users.
CREATE TABLE letter_validation_results (
    notification_id uuid PRIMARY KEY REFERENCES notifications (id) ON DELETE CASCADE,
    message text NOT NULL,
    invalid_pages integer[],
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The printer's word that a letter left (upstream `notifications_letter_despatch`): kept for billing after the
-- notification itself is purged, so no foreign key.
CREATE TABLE letter_despatch (
    notification_id uuid PRIMARY KEY,
    despatched_on date NOT NULL,
    cost_threshold text NOT NULL CHECK (cost_threshold IN ('sorted', 'unsorted')),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Letters Royal Mail sent back (upstream `returned_letters`).
CREATE TABLE returned_letters (
    id uuid PRIMARY KEY,
    reported_at date NOT NULL,
    service_id uuid NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    notification_id uuid NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz
);
CREATE INDEX ix_returned_letters_service ON returned_letters (service_id, reported_at);

-- Collation reads letters still `created` by type and age.
CREATE INDEX ix_notifications_letters_created ON notifications (created_at)
    WHERE notification_type = 'letter' AND notification_status = 'created';

-- Upstream's current rates (crown and non-crown alike), each from its London start date; the 2024 rows end there.
UPDATE letter_rates SET end_date = '2026-01-05T00:00:00Z'
    WHERE post_class IN ('second', 'economy') AND end_date IS NULL;
UPDATE letter_rates SET end_date = '2026-04-06T23:00:00Z' WHERE post_class = 'first' AND end_date IS NULL;
UPDATE letter_rates SET end_date = '2026-05-02T23:00:00Z'
    WHERE post_class IN ('europe', 'rest-of-world') AND end_date IS NULL;
INSERT INTO letter_rates (id, start_date, end_date, sheet_count, rate, crown, post_class)
SELECT gen_random_uuid(), r.start_date::timestamptz, NULL, r.sheets, r.rate, c.crown, r.post_class
FROM (VALUES
        ('second', '2026-01-05T00:00:00Z', 1, 0.73), ('second', '2026-01-05T00:00:00Z', 2, 0.77),
        ('second', '2026-01-05T00:00:00Z', 3, 0.82), ('second', '2026-01-05T00:00:00Z', 4, 0.87),
        ('second', '2026-01-05T00:00:00Z', 5, 0.91),
        ('economy', '2026-01-05T00:00:00Z', 1, 0.64), ('economy', '2026-01-05T00:00:00Z', 2, 0.69),
        ('economy', '2026-01-05T00:00:00Z', 3, 0.73), ('economy', '2026-01-05T00:00:00Z', 4, 0.78),
        ('economy', '2026-01-05T00:00:00Z', 5, 0.82),
        ('first', '2026-04-06T23:00:00Z', 1, 1.56), ('first', '2026-04-06T23:00:00Z', 2, 1.61),
        ('first', '2026-04-06T23:00:00Z', 3, 1.66), ('first', '2026-04-06T23:00:00Z', 4, 1.71),
        ('first', '2026-04-06T23:00:00Z', 5, 1.76),
        ('europe', '2026-05-02T23:00:00Z', 1, 1.80), ('europe', '2026-05-02T23:00:00Z', 2, 1.84),
        ('europe', '2026-05-02T23:00:00Z', 3, 1.88), ('europe', '2026-05-02T23:00:00Z', 4, 1.92),
        ('europe', '2026-05-02T23:00:00Z', 5, 1.96),
        ('rest-of-world', '2026-05-02T23:00:00Z', 1, 1.80), ('rest-of-world', '2026-05-02T23:00:00Z', 2, 1.84),
        ('rest-of-world', '2026-05-02T23:00:00Z', 3, 1.88), ('rest-of-world', '2026-05-02T23:00:00Z', 4, 1.92),
        ('rest-of-world', '2026-05-02T23:00:00Z', 5, 1.96)
     ) AS r (post_class, start_date, sheets, rate),
     (VALUES (true), (false)) AS c (crown);
