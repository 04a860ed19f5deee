-- Takes up to `want` tokens from a rateLimitIn or rateLimitOut bucket in one
-- call, so a process can lease several tokens at once and spend them without
-- a round trip each. The bucket refills at the connection's current limit,
-- read here rather than passed in, so a caller holding an out-of-date copy of
-- the connection cannot refill it at an old rate. It returns the tokens taken
-- (0 when fewer than one is left, or when the connection is gone), the tokens
-- left, and the limit it applied. The row lock makes concurrent callers take
-- in turn, and a refused take leaves the row alone.
create function parksync_take_tokens(
  p_park_id text, p_channel text, p_direction text, p_want integer, p_now timestamptz,
  out taken integer, out tokens double precision, out per_second double precision, out burst double precision
) language plpgsql as $$
declare
  available double precision;
begin
  select case when p_direction = 'in' then c.rate_limit_in_per_second else c.rate_limit_out_per_second end,
         case when p_direction = 'in' then c.rate_limit_in_burst else c.rate_limit_out_burst end
  into per_second, burst
  from connections c
  where c.park_id = p_park_id and c.channel = p_channel;
  if not found then
    taken := 0;
    tokens := 0;
    return;
  end if;

  insert into rate_limit_buckets (park_id, channel, direction, tokens, refreshed_at)
  values (p_park_id, p_channel, p_direction, burst, p_now)
  on conflict (park_id, channel, direction) do nothing;

  select least(burst, b.tokens + greatest(0, extract(epoch from (p_now - b.refreshed_at))) * per_second)
  into available
  from rate_limit_buckets b
  where b.park_id = p_park_id and b.channel = p_channel and b.direction = p_direction
  for update;

  taken := greatest(0, least(p_want, floor(available)))::integer;
  tokens := available - taken;
  if taken > 0 then
    update rate_limit_buckets b
    set tokens = available - taken, refreshed_at = greatest(b.refreshed_at, p_now)
    where b.park_id = p_park_id and b.channel = p_channel and b.direction = p_direction;
  end if;
end;
$$;

-- Stops the statement that calls it when `ok` is false, raising `code` (a
-- SQLSTATE) with `message`. The one-statement webhook apply uses it so the
-- whole statement rolls back: PS409 for a refused X-Version, PS412 for an
-- Idempotency-Key that is already stored, PS428 for a cached webhook target
-- whose rows have changed. The service reads these codes, never the message.
create function parksync_check(ok boolean, code text, message text) returns boolean
language plpgsql as $$
begin
  if not ok then
    raise exception '%', message using errcode = code;
  end if;
  return true;
end;
$$;

drop function parksync_require_versions(bigint, bigint);
