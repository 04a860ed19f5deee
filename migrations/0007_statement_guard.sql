-- An availability webhook is applied by one statement: its X-Version rows,
-- the change, its dirty marks, its event row and the Idempotency-Key's stored
-- response. When the statement wrote fewer version rows than the request
-- names, a newer or equal version is already stored, and this raises so the
-- whole statement rolls back. SQLSTATE PS409 is parksync's own; the service
-- then finds out which entities refused the version and answers 409.
create function parksync_require_versions(written bigint, expected bigint) returns boolean
language plpgsql as $$
begin
  if written < expected then
    raise exception 'X-Version refused for % of % entities', expected - written, expected
      using errcode = 'PS409';
  end if;
  return true;
end;
$$;
