-- Reconcile jobs compare a channel's view with parksync's and queue corrections.
create table reconcile_jobs (
  job_id        uuid primary key default gen_random_uuid(),
  park_id       text not null,
  channel       text not null,
  trigger       text not null,
  state         text not null default 'queued',
  range_from    date,
  range_to      date,
  since_cursor  text,
  checked       integer not null default 0,
  drifted       integer not null default 0,
  corrected     integer not null default 0,
  attempts      integer not null default 0,
  lease_owner   text,
  lease_until   timestamptz,
  last_error    text,
  requested_by  text not null,
  created_at    timestamptz not null default now(),
  started_at    timestamptz,
  finished_at   timestamptz,
  foreign key (park_id, channel) references connections (park_id, channel) on delete cascade,
  constraint reconcile_jobs_trigger_known check (trigger in ('manual', 'nightly', 'delta')),
  constraint reconcile_jobs_state_known check (state in ('queued', 'running', 'succeeded', 'failed')),
  constraint reconcile_jobs_scope check ((range_from is not null and range_to is not null) or since_cursor is not null)
);

-- One active job per connection: a second request gets the running one back.
create unique index reconcile_jobs_one_active on reconcile_jobs (park_id, channel) where state in ('queued', 'running');
create index reconcile_jobs_due on reconcile_jobs (state, created_at);

-- When the scheduler last started each kind of run for a connection.
create table reconcile_schedule (
  park_id        text not null,
  channel        text not null,
  run            text not null,
  last_started   timestamptz not null,
  last_local_day date,
  -- For delta runs: the change-feed position the next delta starts from.
  next_cursor    text,
  primary key (park_id, channel, run),
  foreign key (park_id, channel) references connections (park_id, channel) on delete cascade,
  constraint reconcile_schedule_run_known check (run in ('nightly', 'delta'))
);
