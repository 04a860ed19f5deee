import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/** A timestamp column: read as Date, written as Date or ISO string. */
type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
/** A date column (YYYY-MM-DD): read and written as the string, never as a Date. */
type CalendarDate = ColumnType<string, string, string>;
/** Id (xid8) of the transaction that last wrote the row, set by a trigger; read it with ::text, since it can exceed 2^53. */
type ChangeTxid = ColumnType<string, never, never>;
/** Change-feed sequence number of the row's last write, set by the same trigger. */
type ChangeSeq = ColumnType<number, never, never>;

export interface ParksTable {
  park_id: string;
  name: string;
  timezone: string;
  currency: string;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface UnitTypesTable {
  park_id: string;
  unit_type_id: string;
  name: string;
  units: number;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface AvailabilityTable {
  park_id: string;
  unit_type_id: string;
  date: CalendarDate;
  allotment: Generated<number>;
  booked: Generated<number>;
  available: ColumnType<number, never, never>;
  stop_sell: Generated<boolean>;
  min_stay_arrival: number | null;
  min_stay_through: number | null;
  max_stay: number | null;
  closed_to_arrival: Generated<boolean>;
  closed_to_departure: Generated<boolean>;
  updated_at: Timestamp;
  change_txid: ChangeTxid;
  change_seq: ChangeSeq;
}

export interface RatesTable {
  park_id: string;
  unit_type_id: string;
  rate_plan_id: Generated<string>;
  date: CalendarDate;
  amount_minor: number;
  updated_at: Timestamp;
  change_txid: ChangeTxid;
  change_seq: ChangeSeq;
}

export interface ReservationsTable {
  reservation_key: Generated<number>;
  park_id: string;
  channel: string;
  reservation_id: string;
  unit_type_id: string;
  arrival: CalendarDate;
  departure: CalendarDate;
  units: number;
  guests: number | null;
  guest: unknown;
  status: 'confirmed' | 'cancelled';
  total_minor: number | null;
  total_currency: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  change_txid: ChangeTxid;
  change_seq: ChangeSeq;
}

export interface ReservationNightsTable {
  reservation_key: number;
  park_id: string;
  unit_type_id: string;
  date: CalendarDate;
  units: number;
}

export interface ConnectionsTable {
  park_id: string;
  channel: string;
  enabled: Generated<boolean>;
  paused: Generated<boolean>;
  paused_reason: string | null;
  paused_by: string | null;
  paused_at: Timestamp | null;
  secret_current: string;
  secret_previous: string | null;
  secret_previous_until: Timestamp | null;
  endpoint_url: string | null;
  adapter: Generated<string>;
  rate_limit_in_per_second: Generated<number>;
  rate_limit_in_burst: Generated<number>;
  rate_limit_out_per_second: Generated<number>;
  rate_limit_out_burst: Generated<number>;
  max_attempts: Generated<number>;
  skew_window_seconds: Generated<number>;
  skew_window_until: Timestamp | null;
  skew_window_note: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface ChannelSyncEventsTable {
  event_id: Generated<string>;
  occurred_at: Timestamp;
  park_id: string | null;
  channel: string;
  direction: 'inbound' | 'outbound';
  kind: string;
  status: string;
  idempotency_key: string | null;
  version: number | null;
  http_status: number | null;
  error: string | null;
  latency_ms: number | null;
  request_id: string | null;
  delivery_id: string | null;
  detail: unknown;
}

export interface IdempotencyKeysTable {
  channel: string;
  endpoint: string;
  idempotency_key: string;
  park_id: string | null;
  fingerprint: string;
  state: 'running' | 'completed';
  response_status: number | null;
  response_body: unknown;
  locked_until: Timestamp | null;
  created_at: Timestamp;
  expires_at: Timestamp;
}

export interface EntityVersionsTable {
  channel: string;
  park_id: string;
  kind: 'availability' | 'rates' | 'reservations';
  entity_key: string;
  version: number;
  updated_at: Timestamp;
}

export interface OutboundDirtyTable {
  park_id: string;
  channel: string;
  kind: 'availability' | 'rates';
  unit_type_id: string;
  date: CalendarDate;
  seq: Generated<number>;
  marked_at: Timestamp;
}

export interface OutboundDeliveriesTable {
  delivery_id: Generated<string>;
  park_id: string;
  channel: string;
  kind: 'availability' | 'rates';
  state: Generated<'pending' | 'in_flight' | 'delivered' | 'dead' | 'redriven'>;
  version: number;
  payload: unknown;
  high_seq: number;
  attempts: Generated<number>;
  next_attempt_at: Timestamp;
  lease_owner: string | null;
  lease_until: Timestamp | null;
  last_error: string | null;
  last_http_status: number | null;
  cells: Generated<number>;
  delivered_at: Timestamp | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface FlagSettingsTable {
  flag: string;
  channel: Generated<string>;
  park_id: Generated<string>;
  value: string;
  updated_at: Timestamp;
  updated_by: string;
}

export interface ApiTokensTable {
  token_id: string;
  token_hash: string;
  scopes: string[];
  park_ids: string[] | null;
  channel: string | null;
  label: string | null;
  created_at: Timestamp;
  created_by: string | null;
  revoked_at: Timestamp | null;
  last_used_at: Timestamp | null;
}

export interface AuditLogTable {
  audit_id: Generated<number>;
  occurred_at: Timestamp;
  actor: string;
  action: string;
  park_id: string | null;
  channel: string | null;
  details: unknown;
  note: string | null;
  request_id: string | null;
}

export interface WorkerLeasesTable {
  name: string;
  owner: string;
  lease_until: Timestamp;
}

export interface Database {
  parks: ParksTable;
  unit_types: UnitTypesTable;
  availability: AvailabilityTable;
  rates: RatesTable;
  reservations: ReservationsTable;
  reservation_nights: ReservationNightsTable;
  connections: ConnectionsTable;
  channel_sync_events: ChannelSyncEventsTable;
  idempotency_keys: IdempotencyKeysTable;
  entity_versions: EntityVersionsTable;
  outbound_dirty: OutboundDirtyTable;
  outbound_deliveries: OutboundDeliveriesTable;
  flag_settings: FlagSettingsTable;
  api_tokens: ApiTokensTable;
  audit_log: AuditLogTable;
  worker_leases: WorkerLeasesTable;
  rate_limit_buckets: RateLimitBucketsTable;
  reconcile_jobs: ReconcileJobsTable;
  reconcile_schedule: ReconcileScheduleTable;
  alert_states: AlertStatesTable;
}

export type ParkRow = Selectable<ParksTable>;
export type UnitTypeRow = Selectable<UnitTypesTable>;
export type ConnectionRow = Selectable<ConnectionsTable>;
export type AvailabilityRow = Selectable<AvailabilityTable>;
export type ReservationRow = Selectable<ReservationsTable>;
export type NewAuditEntry = Insertable<AuditLogTable>;

export interface RateLimitBucketsTable {
  park_id: string;
  channel: string;
  direction: 'in' | 'out';
  tokens: number;
  refreshed_at: Timestamp;
}

export interface ReconcileJobsTable {
  job_id: Generated<string>;
  park_id: string;
  channel: string;
  trigger: 'manual' | 'nightly' | 'delta';
  state: Generated<'queued' | 'running' | 'succeeded' | 'failed'>;
  range_from: CalendarDate | null;
  range_to: CalendarDate | null;
  since_cursor: string | null;
  checked: Generated<number>;
  drifted: Generated<number>;
  corrected: Generated<number>;
  attempts: Generated<number>;
  lease_owner: string | null;
  lease_until: Timestamp | null;
  last_error: string | null;
  requested_by: string;
  created_at: Timestamp;
  started_at: Timestamp | null;
  finished_at: Timestamp | null;
}

export interface ReconcileScheduleTable {
  park_id: string;
  channel: string;
  run: 'nightly' | 'delta';
  last_started: Timestamp;
  last_local_day: CalendarDate | null;
  next_cursor: string | null;
}

export interface AlertStatesTable {
  rule: string;
  /** '' when the rule is not split by park. */
  park_id: string;
  /** '' when the rule is not split by channel. */
  channel: string;
  state: 'firing' | 'resolved' | 'no_data';
  since: Timestamp;
  value: number | null;
  threshold: number;
  detail: unknown;
  evaluated_at: Timestamp;
}
