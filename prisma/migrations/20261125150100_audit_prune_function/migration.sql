-- Retention without DELETE rights. The server may run as a role that owns neither audit_event nor
-- its trigger and holds only SELECT and INSERT on it (docker-compose.yml). Retention deletes through
-- this function instead, which runs as the table's owner and can only ever remove a prefix of the
-- chain: never the newest event, never a row in the middle. Whoever calls it outside the
-- retention action leaves a gap no retention event accounts for, and verification names it.
CREATE FUNCTION berth_audit_prune(through_seq BIGINT) RETURNS BIGINT
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
  deleted BIGINT;
BEGIN
  PERFORM set_config('berth.audit_retention', 'on', true);
  DELETE FROM audit_event WHERE seq <= through_seq AND seq < (SELECT max(seq) FROM audit_event);
  GET DIAGNOSTICS deleted = ROW_COUNT;
  PERFORM set_config('berth.audit_retention', 'off', true);
  RETURN deleted;
END;
$$;
