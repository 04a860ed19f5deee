-- Change feed for the channel pull endpoints. Every insert or update of an
-- availability, rate or reservation row stamps it with the writing
-- transaction's id and a number from one sequence. A reader pages by
-- (change_txid, change_seq) and stops below the oldest transaction still
-- running, so a writer that commits late is read on a later page, never skipped.

create sequence change_feed_seq;

-- pg_current_xact_id() is the top-level transaction id even inside a
-- savepoint, which is the id that pg_current_snapshot() reports as running.
create function stamp_change_feed() returns trigger language plpgsql as $$
begin
  new.change_txid := pg_current_xact_id();
  new.change_seq := nextval('change_feed_seq');
  return new;
end;
$$;

alter table availability add column change_txid xid8, add column change_seq bigint;
alter table rates add column change_txid xid8, add column change_seq bigint;
alter table reservations add column change_txid xid8, add column change_seq bigint;

-- Existing rows get this migration's transaction id, so they appear once in
-- the feed of a reader that starts before them.
update availability set change_txid = pg_current_xact_id(), change_seq = nextval('change_feed_seq');
update rates set change_txid = pg_current_xact_id(), change_seq = nextval('change_feed_seq');
update reservations set change_txid = pg_current_xact_id(), change_seq = nextval('change_feed_seq');

alter table availability alter column change_txid set not null, alter column change_seq set not null;
alter table rates alter column change_txid set not null, alter column change_seq set not null;
alter table reservations alter column change_txid set not null, alter column change_seq set not null;

create trigger availability_change_feed
  before insert or update on availability
  for each row execute function stamp_change_feed();

create trigger rates_change_feed
  before insert or update on rates
  for each row execute function stamp_change_feed();

create trigger reservations_change_feed
  before insert or update on reservations
  for each row execute function stamp_change_feed();

create index availability_change_feed on availability (park_id, change_txid, change_seq);
create index rates_change_feed on rates (park_id, change_txid, change_seq);
create index reservations_change_feed on reservations (park_id, change_txid, change_seq);
