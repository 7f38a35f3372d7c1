-- One known value sealed with SECRET_KEY's first key (written by the first process that starts against this
-- database): every process opens it at start-up, so a wrong SECRET_KEY stops it with a clear message instead of
-- answering 500 to every request.
CREATE TABLE secret_key_check (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    value text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
