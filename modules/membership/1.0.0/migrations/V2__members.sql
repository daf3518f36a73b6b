-- Members of the organisation, their status lifecycle and an updated_at stamp.
CREATE TABLE members (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    email               TEXT    NOT NULL COLLATE NOCASE UNIQUE CHECK (email LIKE '%_@_%'),
    first_name          TEXT    NOT NULL,
    last_name           TEXT    NOT NULL,
    membership_type_id  INTEGER REFERENCES membership_types (id) ON DELETE RESTRICT,
    status              TEXT    NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'active', 'lapsed', 'suspended', 'resigned')),
    joined_at           TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at          TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX members_status_idx ON members (status);
CREATE INDEX members_membership_type_idx ON members (membership_type_id);
CREATE INDEX members_name_idx ON members (last_name, first_name);

CREATE TRIGGER members_touch_updated_at
AFTER UPDATE OF email, first_name, last_name, membership_type_id, status ON members
FOR EACH ROW
WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE members
       SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
     WHERE id = NEW.id;
END;
