-- A process that leased rateLimitIn tokens gives back the ones it did not
-- spend before the lease ended, in the call that takes its next lease, so
-- unused leases do not keep tokens from the other processes. p_returned
-- tokens are added to the bucket (up to the burst) before the take.
drop function parksync_take_tokens(text, text, text, integer, timestamptz);

create function parksync_take_tokens(
  p_park_id text, p_channel text, p_direction text, p_want integer, p_returned integer, p_now timestamptz,
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

  select least(burst, b.tokens + greatest(0, extract(epoch from (p_now - b.refreshed_at))) * per_second + greatest(0, p_returned))
  into available
  from rate_limit_buckets b
  where b.park_id = p_park_id and b.channel = p_channel and b.direction = p_direction
  for update;

  taken := greatest(0, least(p_want, floor(available)))::integer;
  tokens := available - taken;
  -- A refused take with nothing to give back leaves the row alone, so the
  -- refill keeps counting from the last take, at whatever rate is current.
  if taken > 0 or p_returned > 0 then
    update rate_limit_buckets b
    set tokens = available - taken, refreshed_at = greatest(b.refreshed_at, p_now)
    where b.park_id = p_park_id and b.channel = p_channel and b.direction = p_direction;
  end if;
end;
$$;
