-- Payments against invoices (optionally made with a digital card) and the trigger that marks invoices paid.
CREATE TABLE payments (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    invoice_id        INTEGER NOT NULL REFERENCES invoices (id) ON DELETE RESTRICT,
    amount_cents      INTEGER NOT NULL CHECK (amount_cents > 0),
    method            TEXT    NOT NULL CHECK (method IN ('card', 'bank_transfer', 'direct_debit', 'cash')),
    digital_card_id   INTEGER REFERENCES digital_cards (id) ON DELETE SET NULL,
    reference         TEXT,
    received_at       TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX payments_invoice_idx ON payments (invoice_id);
CREATE UNIQUE INDEX payments_reference_uidx ON payments (reference) WHERE reference IS NOT NULL;

CREATE TRIGGER payments_mark_invoice_paid
AFTER INSERT ON payments
FOR EACH ROW
BEGIN
    UPDATE invoices
       SET status = 'paid',
           paid_at = NEW.received_at
     WHERE id = NEW.invoice_id
       AND status = 'open'
       AND (SELECT coalesce(sum(p.amount_cents), 0)
              FROM payments AS p
             WHERE p.invoice_id = NEW.invoice_id) >= amount_cents;
END;
