-- Outbound deliveries: a redriven dead delivery keeps its row as history, and
-- every delivery gets a version from one sequence, so versions only grow.
alter table outbound_deliveries drop constraint outbound_deliveries_state_known;
alter table outbound_deliveries add constraint outbound_deliveries_state_known
  check (state in ('pending', 'in_flight', 'delivered', 'dead', 'redriven'));

create sequence outbound_version_seq;

-- At most one open delivery per connection and kind: the next one is built
-- only after it settles, so an older state is never sent after a newer one.
create unique index outbound_deliveries_one_open
  on outbound_deliveries (park_id, channel, kind) where state in ('pending', 'in_flight');

alter table outbound_deliveries add column cells integer not null default 0;
alter table outbound_deliveries add column delivered_at timestamptz;
