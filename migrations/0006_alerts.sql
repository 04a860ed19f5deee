-- Alert rules: the state of each rule for each scope, written by the one
-- worker holding the "alerts" lease once a minute. '' in park_id or channel
-- means the rule is not split by it (as in flag_settings).
create table alert_states (
  rule          text not null,
  park_id       text not null default '',
  channel       text not null default '',
  state         text not null,
  -- When the rule entered its current state for this scope.
  since         timestamptz not null,
  -- The measured value, in the rule's unit (percent, seconds or count); null when there is nothing to measure.
  value         double precision,
  threshold     double precision not null,
  -- The counts behind the value, such as requests and successes; never guest data.
  detail        jsonb,
  evaluated_at  timestamptz not null,
  primary key (rule, park_id, channel),
  constraint alert_states_state_known check (state in ('firing', 'resolved', 'no_data'))
);

-- publish_validation_failures looks back over every publish row kept, so it
-- needs an index that skips the much larger webhook and delivery traffic.
create index channel_sync_events_publish on channel_sync_events (park_id, occurred_at) where kind = 'publish';
