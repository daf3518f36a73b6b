-- Tax rates, invoices addressed to members, and invoice lines.
CREATE TABLE tax_rates (
    code                TEXT    PRIMARY KEY CHECK (length(code) BETWEEN 1 AND 16),
    name                TEXT    NOT NULL,
    rate_basis_points   INTEGER NOT NULL CHECK (rate_basis_points BETWEEN 0 AND 10000),
    active              INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1))
) WITHOUT ROWID;

CREATE TABLE invoices (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    number        TEXT    NOT NULL UNIQUE,
    member_id     INTEGER NOT NULL REFERENCES members (id) ON DELETE RESTRICT,
    amount_cents  INTEGER NOT NULL DEFAULT 0 CHECK (amount_cents >= 0),
    currency      TEXT    NOT NULL DEFAULT 'EUR'
                  CHECK (length(currency) = 3 AND currency = upper(currency)),
    status        TEXT    NOT NULL DEFAULT 'draft'
                  CHECK (status IN ('draft', 'open', 'paid', 'void', 'uncollectible')),
    issued_on     TEXT    CHECK (issued_on IS NULL OR date(issued_on) = issued_on),
    due_on        TEXT    NOT NULL CHECK (date(due_on) = due_on),
    paid_at       TEXT,
    created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX invoices_member_idx ON invoices (member_id, status);
CREATE INDEX invoices_open_due_idx ON invoices (due_on) WHERE status = 'open';

CREATE TABLE invoice_lines (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    invoice_id         INTEGER NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    position           INTEGER NOT NULL CHECK (position >= 1),
    description        TEXT    NOT NULL,
    quantity           INTEGER NOT NULL DEFAULT 1 CHECK (quantity > 0),
    unit_amount_cents  INTEGER NOT NULL CHECK (unit_amount_cents >= 0),
    tax_rate_code      TEXT    REFERENCES tax_rates (code),
    UNIQUE (invoice_id, position)
);
