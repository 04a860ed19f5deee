-- parksync foundation schema.
-- Every table is keyed by park_id (or carries it) so the schema can later be
-- distributed by park. Invariants that the database can hold live here as
-- constraints and triggers, not only in application code.

create table parks (
  park_id     text primary key,
  name        text not null,
  timezone    text not null,
  currency    char(3) not null,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now(),
  constraint parks_park_id_slug check (park_id ~ '^[a-z0-9-]{2,64}$'),
  constraint parks_name_length check (char_length(name) between 1 and 200),
  constraint parks_currency_format check (currency ~ '^[A-Z]{3}$')
);

create table unit_types (
  park_id       text not null references parks (park_id) on delete cascade,
  unit_type_id  text not null,
  name          text not null,
  units         integer not null,
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now(),
  primary key (park_id, unit_type_id),
  constraint unit_types_id_slug check (unit_type_id ~ '^[a-z0-9-]{2,64}$'),
  constraint unit_types_name_length check (char_length(name) between 1 and 200),
  constraint unit_types_units_range check (units between 0 and 100000)
);

-- One row per (park, unit type, night). A night without a row has nothing on sale.
create table availability (
  park_id              text not null,
  unit_type_id         text not null,
  date                 date not null,
  allotment            integer not null default 0,
  booked               integer not null default 0,
  available            integer generated always as (greatest(0, allotment - booked)) stored,
  stop_sell            boolean not null default false,
  min_stay_arrival     integer,
  min_stay_through     integer,
  max_stay             integer,
  closed_to_arrival    boolean not null default false,
  closed_to_departure  boolean not null default false,
  updated_at           timestamptz not null default now(),
  primary key (park_id, unit_type_id, date),
  foreign key (park_id, unit_type_id) references unit_types (park_id, unit_type_id) on delete cascade,
  constraint availability_allotment_nonnegative check (allotment >= 0),
  constraint availability_booked_nonnegative check (booked >= 0),
  constraint availability_min_stay_arrival_range check (min_stay_arrival between 1 and 365),
  constraint availability_min_stay_through_range check (min_stay_through between 1 and 365),
  constraint availability_max_stay_range check (max_stay between 1 and 365)
);

-- A claim (booked going up) may never take booked above allotment. Lowering the
-- allotment below booked stays possible: that is a recorded conflict, not a claim.
create function availability_guard_claim() returns trigger language plpgsql as $$
begin
  if new.booked > old.booked and new.booked > new.allotment then
    raise exception 'claim exceeds allotment for % % %', new.park_id, new.unit_type_id, new.date
      using errcode = '23514', constraint = 'availability_claim_within_allotment';
  end if;
  return new;
end;
$$;

create trigger availability_guard_claim
  before update of booked on availability
  for each row execute function availability_guard_claim();

create function availability_guard_insert() returns trigger language plpgsql as $$
begin
  if new.booked > new.allotment then
    raise exception 'claim exceeds allotment for % % %', new.park_id, new.unit_type_id, new.date
      using errcode = '23514', constraint = 'availability_claim_within_allotment';
  end if;
  return new;
end;
$$;

create trigger availability_guard_insert
  before insert on availability
  for each row execute function availability_guard_insert();

create table rates (
  park_id       text not null,
  unit_type_id  text not null,
  rate_plan_id  text not null default 'standard',
  date          date not null,
  amount_minor  bigint not null,
  updated_at    timestamptz not null default now(),
  primary key (park_id, unit_type_id, rate_plan_id, date),
  foreign key (park_id, unit_type_id) references unit_types (park_id, unit_type_id) on delete cascade,
  constraint rates_rate_plan_slug check (rate_plan_id ~ '^[a-z0-9-]{1,64}$'),
  constraint rates_amount_nonnegative check (amount_minor >= 0)
);

create table reservations (
  reservation_key  bigint generated always as identity primary key,
  park_id          text not null,
  channel          text not null,
  reservation_id   text not null,
  unit_type_id     text not null,
  arrival          date not null,
  departure        date not null,
  units            integer not null default 1,
  guests           integer,
  guest            jsonb,
  status           text not null,
  total_minor      bigint,
  total_currency   char(3),
  created_at       timestamptz not null default now(),
  updated_at       timestamptz not null default now(),
  foreign key (park_id, unit_type_id) references unit_types (park_id, unit_type_id),
  constraint reservations_channel_reservation_unique unique (channel, reservation_id),
  constraint reservations_stay_order check (departure > arrival),
  constraint reservations_units_positive check (units >= 1),
  constraint reservations_guests_positive check (guests is null or guests >= 1),
  constraint reservations_status_known check (status in ('confirmed', 'cancelled')),
  constraint reservations_reservation_id_length check (char_length(reservation_id) between 1 and 128)
);

create index reservations_park_arrival on reservations (park_id, arrival);

-- The nights a confirmed reservation holds: one row per night, `units` units each.
create table reservation_nights (
  reservation_key  bigint not null references reservations (reservation_key) on delete cascade,
  park_id          text not null,
  unit_type_id     text not null,
  date             date not null,
  units            integer not null,
  primary key (reservation_key, date),
  constraint reservation_nights_units_positive check (units >= 1)
);

create index reservation_nights_park_night on reservation_nights (park_id, unit_type_id, date);

-- One connection per (park, channel). Signing secrets are stored as given to
-- the channel (whsec_<base64>) because parksync both verifies and signs with them.
create table connections (
  park_id                   text not null references parks (park_id) on delete cascade,
  channel                   text not null,
  enabled                   boolean not null default true,
  paused                    boolean not null default false,
  paused_reason             text,
  paused_by                 text,
  paused_at                 timestamptz,
  secret_current            text not null,
  secret_previous           text,
  secret_previous_until     timestamptz,
  endpoint_url              text,
  adapter                   text not null default 'generic-json',
  rate_limit_in_per_second  integer not null default 20,
  rate_limit_in_burst       integer not null default 40,
  rate_limit_out_per_second integer not null default 10,
  rate_limit_out_burst      integer not null default 20,
  max_attempts              integer not null default 8,
  skew_window_seconds       integer not null default 300,
  skew_window_until         timestamptz,
  skew_window_note          text,
  created_at                timestamptz not null default now(),
  updated_at                timestamptz not null default now(),
  primary key (park_id, channel),
  constraint connections_channel_slug check (channel ~ '^[a-z0-9-]{2,64}$'),
  constraint connections_rate_limit_in_positive check (rate_limit_in_per_second >= 1 and rate_limit_in_burst >= 1),
  constraint connections_rate_limit_out_positive check (rate_limit_out_per_second >= 1 and rate_limit_out_burst >= 1),
  constraint connections_max_attempts_range check (max_attempts between 1 and 100),
  constraint connections_skew_window_range check (skew_window_seconds between 1 and 86400)
);

create index connections_channel on connections (channel);

-- Every inbound request and outbound attempt, partitioned by day so retention
-- drops whole partitions. Holds no secrets and no guest personal data.
create table channel_sync_events (
  event_id         uuid not null default gen_random_uuid(),
  occurred_at      timestamptz not null default now(),
  park_id          text,
  channel          text not null,
  direction        text not null,
  kind             text not null,
  status           text not null,
  idempotency_key  text,
  version          bigint,
  http_status      integer,
  error            text,
  latency_ms       integer,
  request_id       text,
  delivery_id      uuid,
  detail           jsonb,
  primary key (occurred_at, event_id),
  constraint channel_sync_events_direction_known check (direction in ('inbound', 'outbound'))
) partition by range (occurred_at);

create table channel_sync_events_default partition of channel_sync_events default;

create index channel_sync_events_channel_time on channel_sync_events (channel, park_id, occurred_at);

-- Creates the daily partitions of channel_sync_events from `first_day` for
-- `day_count` days, skipping those that exist. Rows that already sit in the
-- default partition for such a day are moved into the new partition.
create function channel_sync_events_ensure_partitions(first_day date, day_count integer)
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

create table idempotency_keys (
  channel           text not null,
  endpoint          text not null,
  idempotency_key   text not null,
  park_id           text,
  fingerprint       text not null,
  state             text not null,
  response_status   integer,
  response_body     jsonb,
  locked_until      timestamptz,
  created_at        timestamptz not null default now(),
  expires_at        timestamptz not null,
  primary key (channel, endpoint, idempotency_key),
  constraint idempotency_keys_state_known check (state in ('running', 'completed')),
  constraint idempotency_keys_key_length check (char_length(idempotency_key) between 1 and 255)
);

create index idempotency_keys_expiry on idempotency_keys (expires_at);

-- The highest version each sender has applied to each entity. entity_key is
-- '<unitTypeId>/<date>' for availability and rates, the reservation id for reservations.
create table entity_versions (
  channel     text not null,
  park_id     text not null,
  kind        text not null,
  entity_key  text not null,
  version     bigint not null,
  updated_at  timestamptz not null default now(),
  primary key (channel, park_id, kind, entity_key),
  constraint entity_versions_kind_known check (kind in ('availability', 'rates', 'reservations')),
  constraint entity_versions_version_positive check (version >= 1)
);

-- Outbound work: a dirty mark says "send this connection the current state of
-- this night". Marking again only moves the sequence forward, so bursts coalesce.
create sequence outbound_dirty_seq;

create table outbound_dirty (
  park_id       text not null,
  channel       text not null,
  kind          text not null,
  unit_type_id  text not null,
  date          date not null,
  seq           bigint not null default nextval('outbound_dirty_seq'),
  marked_at     timestamptz not null default now(),
  primary key (park_id, channel, kind, unit_type_id, date),
  foreign key (park_id, channel) references connections (park_id, channel) on delete cascade,
  constraint outbound_dirty_kind_known check (kind in ('availability', 'rates'))
);

create index outbound_dirty_connection_seq on outbound_dirty (park_id, channel, seq);

create table outbound_deliveries (
  delivery_id      uuid primary key default gen_random_uuid(),
  park_id          text not null,
  channel          text not null,
  kind             text not null,
  state            text not null default 'pending',
  version          bigint not null,
  payload          jsonb not null,
  high_seq         bigint not null,
  attempts         integer not null default 0,
  next_attempt_at  timestamptz not null default now(),
  lease_owner      text,
  lease_until      timestamptz,
  last_error       text,
  last_http_status integer,
  created_at       timestamptz not null default now(),
  updated_at       timestamptz not null default now(),
  foreign key (park_id, channel) references connections (park_id, channel) on delete cascade,
  constraint outbound_deliveries_state_known check (state in ('pending', 'in_flight', 'delivered', 'dead')),
  constraint outbound_deliveries_kind_known check (kind in ('availability', 'rates'))
);

create index outbound_deliveries_due on outbound_deliveries (state, next_attempt_at);
create index outbound_deliveries_connection on outbound_deliveries (park_id, channel, state);

-- Feature flag settings. '' in channel or park_id means "any": the narrowest
-- matching row wins (connection, then park, then channel, then global).
create table flag_settings (
  flag        text not null,
  channel     text not null default '',
  park_id     text not null default '',
  value       text not null,
  updated_at  timestamptz not null default now(),
  updated_by  text not null,
  primary key (flag, channel, park_id)
);

create table api_tokens (
  token_id      text primary key,
  token_hash    text not null unique,
  scopes        text[] not null,
  park_ids      text[],
  channel       text,
  label         text,
  created_at    timestamptz not null default now(),
  created_by    text,
  revoked_at    timestamptz,
  last_used_at  timestamptz
);

create table audit_log (
  audit_id     bigint generated always as identity primary key,
  occurred_at  timestamptz not null default now(),
  actor        text not null,
  action       text not null,
  park_id      text,
  channel      text,
  details      jsonb,
  note         text,
  request_id   text
);

create index audit_log_park_time on audit_log (park_id, occurred_at);

-- Leases for singleton work (the scheduler, maintenance) across processes.
create table worker_leases (
  name         text primary key,
  owner        text not null,
  lease_until  timestamptz not null
);
