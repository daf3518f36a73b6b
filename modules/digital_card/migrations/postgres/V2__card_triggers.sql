-- Triggers: stamp digital_cards.updated_at, and revoke active cards when a member lapses or leaves.
CREATE FUNCTION digital_cards_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

CREATE TRIGGER digital_cards_touch_updated_at
BEFORE UPDATE OF card_number, status, qr_payload, expires_on, revoked_at, revoke_reason ON digital_cards
FOR EACH ROW
WHEN (NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at)
EXECUTE FUNCTION digital_cards_touch_updated_at();

CREATE FUNCTION members_status_revokes_digital_cards() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE digital_cards
       SET status = 'revoked',
           revoked_at = now(),
           revoke_reason = 'member ' || NEW.status
     WHERE member_id = NEW.id
       AND status = 'active';
    RETURN NULL;
END
$$;

CREATE TRIGGER members_status_revokes_digital_cards
AFTER UPDATE OF status ON members
FOR EACH ROW
WHEN (NEW.status IN ('lapsed', 'suspended', 'resigned') AND OLD.status IS DISTINCT FROM NEW.status)
EXECUTE FUNCTION members_status_revokes_digital_cards();
