-- Ballots: one per member per election, for a candidate of that same election, only while it is open.
CREATE TABLE ballots (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    election_id   INTEGER NOT NULL REFERENCES elections (id) ON DELETE CASCADE,
    member_id     INTEGER NOT NULL REFERENCES members (id) ON DELETE RESTRICT,
    candidate_id  INTEGER NOT NULL,
    cast_at       TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (election_id, member_id),
    FOREIGN KEY (candidate_id, election_id) REFERENCES candidates (id, election_id) ON DELETE CASCADE
);

CREATE INDEX ballots_candidate_idx ON ballots (candidate_id);

CREATE TRIGGER ballots_only_while_open
BEFORE INSERT ON ballots
FOR EACH ROW
WHEN (SELECT status FROM elections WHERE id = NEW.election_id) IS NOT 'open'
BEGIN
    SELECT RAISE(ABORT, 'election is not open for voting');
END;

CREATE TRIGGER ballots_voter_must_be_active
BEFORE INSERT ON ballots
FOR EACH ROW
WHEN (SELECT status FROM members WHERE id = NEW.member_id) IS NOT 'active'
BEGIN
    SELECT RAISE(ABORT, 'only active members may vote');
END;
