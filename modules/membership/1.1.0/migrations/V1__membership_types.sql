-- Membership types (full, student, honorary...) with their annual fee.
CREATE TABLE membership_types (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    code              TEXT    NOT NULL UNIQUE CHECK (code GLOB '[a-z]*' AND length(code) <= 32),
    name              TEXT    NOT NULL,
    annual_fee_cents  INTEGER NOT NULL DEFAULT 0 CHECK (annual_fee_cents >= 0),
    active            INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at        TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX membership_types_active_idx ON membership_types (active, name);
