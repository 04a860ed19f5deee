-- Token buckets for rateLimitIn and rateLimitOut, one per connection and
-- direction, kept in the database so every API process and worker shares them.
create table rate_limit_buckets (
  park_id       text not null,
  channel       text not null,
  direction     text not null,
  tokens        double precision not null,
  refreshed_at  timestamptz not null,
  primary key (park_id, channel, direction),
  foreign key (park_id, channel) references connections (park_id, channel) on delete cascade,
  constraint rate_limit_buckets_direction_known check (direction in ('in', 'out'))
);
