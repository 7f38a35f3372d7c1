-- Email branding (upstream's `email_branding`): what an email's layout shows above the body. A service with no
-- email branding gets the GOV.UK banner, as upstream's central-government default. `brand_type` keeps upstream's
-- names, `govuk` included (upstream keeps it for old rows; our API does not make new ones with it).
CREATE TABLE email_branding (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    -- `#rrggbb`, lower case: checked by the API, and here so that nothing else can put markup in a style.
    colour text CHECK (colour ~ '^#[0-9a-f]{6}$'),
    -- The logo's file name; the file is at `email-logos/{logo}` in the file store, served at
    -- `/static/email-logos/{logo}`. The name carries the content's hash, so a new logo is a new name.
    logo text,
    text text,
    alt_text text,
    brand_type text NOT NULL DEFAULT 'org' CHECK (brand_type IN ('govuk', 'org', 'both', 'org_banner')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz,
    created_by uuid REFERENCES users (id),
    updated_by uuid REFERENCES users (id),
    CONSTRAINT uq_email_branding_name UNIQUE (name),
    -- Upstream's rule: the logo is described either by the text beside it or by its alt text, never both.
    CONSTRAINT ck_email_branding_one_of_alt_text_or_text_is_null
        CHECK ((text IS NOT NULL AND alt_text IS NULL) OR (text IS NULL AND alt_text IS NOT NULL))
);

-- services_history is written with `SELECT * FROM services`: both tables gain the column at the same position.
ALTER TABLE services ADD COLUMN email_branding_id uuid REFERENCES email_branding (id);
ALTER TABLE services_history ADD COLUMN email_branding_id uuid;
CREATE INDEX ix_services_email_branding_id ON services (email_branding_id) WHERE email_branding_id IS NOT NULL;
