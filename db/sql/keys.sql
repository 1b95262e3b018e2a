-- Keys: a key's lineage. A key made by rotation inherits the lineage of the key it replaced,
-- any other key starts its own (its id); a key's own cap counts its whole lineage's spend, so
-- rotating a key never resets it (limits.sql, ledger.sql book key spend per lineage).
-- Live definitions: re-created by every migrate (docs/sql.md).

CREATE OR REPLACE FUNCTION kaixu_key_lineage() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.lineage_id IS NULL THEN
        NEW.lineage_id := coalesce(
            (SELECT k.lineage_id FROM api_keys k WHERE k.id = NEW.rotated_from), NEW.id);
    END IF;
    RETURN NEW;
END;
$$;

CREATE OR REPLACE TRIGGER api_keys_lineage BEFORE INSERT ON api_keys
FOR EACH ROW EXECUTE FUNCTION kaixu_key_lineage();
