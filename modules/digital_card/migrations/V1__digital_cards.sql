-- Digital membership cards, one or more per member, with a unique card number.
CREATE TABLE digital_cards (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    member_id      INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    card_number    TEXT    NOT NULL CHECK (length(card_number) BETWEEN 8 AND 32),
    status         TEXT    NOT NULL DEFAULT 'active'
                   CHECK (status IN ('active', 'revoked', 'expired')),
    qr_payload     TEXT,
    issued_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    expires_on     TEXT    CHECK (expires_on IS NULL OR date(expires_on) = expires_on),
    revoked_at     TEXT,
    revoke_reason  TEXT,
    updated_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CHECK ((status = 'revoked') = (revoked_at IS NOT NULL))
);

CREATE UNIQUE INDEX digital_cards_card_number_uidx ON digital_cards (card_number);
CREATE INDEX digital_cards_member_idx ON digital_cards (member_id, status);
