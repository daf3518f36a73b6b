-- Triggers: stamp digital_cards.updated_at, and revoke active cards when a member lapses or leaves.
CREATE TRIGGER digital_cards_touch_updated_at
AFTER UPDATE OF card_number, status, qr_payload, expires_on, revoked_at, revoke_reason ON digital_cards
FOR EACH ROW
WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE digital_cards
       SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
     WHERE id = NEW.id;
END;

CREATE TRIGGER members_status_revokes_digital_cards
AFTER UPDATE OF status ON members
FOR EACH ROW
WHEN NEW.status IN ('lapsed', 'suspended', 'resigned') AND OLD.status IS NOT NEW.status
BEGIN
    UPDATE digital_cards
       SET status = 'revoked',
           revoked_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
           revoke_reason = 'member ' || NEW.status
     WHERE member_id = NEW.id
       AND status = 'active';
END;
