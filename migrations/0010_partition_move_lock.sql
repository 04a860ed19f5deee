-- channel_sync_events_ensure_partitions moved a day's rows out of the default
-- partition with a copy and then a delete, two statements with two
-- snapshots: an event committed to the default partition between them was
-- deleted without its copy. The function now locks the default partition
-- against writes before it moves anything, so such an insert waits until the
-- new partition is attached and then goes straight into it.
create or replace function channel_sync_events_ensure_partitions(first_day date, day_count integer)
returns integer language plpgsql as $$
declare
  day date;
  part text;
  created integer := 0;
begin
  for i in 0 .. day_count - 1 loop
    day := first_day + i;
    part := 'channel_sync_events_' || to_char(day, 'YYYYMMDD');
    if to_regclass(part) is null then
      lock table channel_sync_events_default in share row exclusive mode;
      execute format('create table %I (like channel_sync_events including defaults including constraints)', part);
      execute format(
        'insert into %I select * from channel_sync_events_default where occurred_at >= %L and occurred_at < %L',
        part, day::timestamptz, (day + 1)::timestamptz);
      execute format(
        'delete from channel_sync_events_default where occurred_at >= %L and occurred_at < %L',
        day::timestamptz, (day + 1)::timestamptz);
      execute format('alter table channel_sync_events attach partition %I for values from (%L) to (%L)',
        part, day::timestamptz, (day + 1)::timestamptz);
      created := created + 1;
    end if;
  end loop;
  return created;
end;
$$;
