-- ChargePlane schema, version 1. Each service owns its tables; they share one
-- database so a single `chargeplane migrate` step prepares everything.

-- ocpp gateway: stations, connectors and the frame log ---------------------------
CREATE TABLE charging_stations (
    id                  text PRIMARY KEY,
    vendor              text,
    model               text,
    serial_number       text,
    firmware_version    text,
    registration_status text NOT NULL DEFAULT 'Accepted'
                        CHECK (registration_status IN ('Accepted', 'Pending', 'Rejected')),
    heartbeat_interval  integer NOT NULL DEFAULT 300 CHECK (heartbeat_interval > 0),
    connected           boolean NOT NULL DEFAULT false,
    last_boot_at        timestamptz,
    last_heartbeat_at   timestamptz,
    last_seen_at        timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE connectors (
    station_id         text NOT NULL REFERENCES charging_stations (id) ON DELETE CASCADE,
    connector_id       integer NOT NULL CHECK (connector_id >= 0),
    status             text NOT NULL DEFAULT 'Unavailable',
    error_code         text NOT NULL DEFAULT 'NoError',
    info               text,
    vendor_error_code  text,
    status_at          timestamptz,
    -- The open transaction and its trace, so StopTransaction joins the session's trace.
    transaction_id     bigint,
    session_traceparent text,
    -- what the station said when it started it: a repeated StartTransaction (its reply
    -- was lost) gets the same transactionId back instead of a second session.
    transaction_started_at timestamptz,
    transaction_meter_start bigint,
    -- The last energy register reading, to close a session a station abandoned.
    meter_wh           bigint,
    meter_at           timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station_id, connector_id)
);

CREATE TABLE ocpp_message_log (
    id           bigserial PRIMARY KEY,
    station_id   text NOT NULL,
    direction    text NOT NULL CHECK (direction IN ('in', 'out')),
    message_type smallint,
    unique_id    text,
    action       text,
    frame        text NOT NULL,
    logged_at    timestamptz NOT NULL
);
CREATE INDEX ocpp_message_log_station_time ON ocpp_message_log (station_id, logged_at);

-- sessions ---------------------------------------------------------------------------
-- `id` IS the OCPP transactionId returned to the station.
CREATE TABLE charging_sessions (
    id              bigserial PRIMARY KEY,
    station_id      text NOT NULL,
    connector_id    integer NOT NULL,
    id_tag          text,
    status          text NOT NULL CHECK (status IN ('active', 'completed')),
    meter_start_wh  bigint NOT NULL,
    meter_stop_wh   bigint,
    started_at      timestamptz NOT NULL,
    stopped_at      timestamptz,
    stop_reason     text,
    -- who closed it: the station's StopTransaction, or the platform because the station
    -- rebooted or started a new session on the same connector.
    closed_by       text CHECK (closed_by IN ('station', 'reboot', 'superseded')),
    reservation_id  integer,
    traceparent     text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX charging_sessions_one_active_per_connector
    ON charging_sessions (station_id, connector_id) WHERE status = 'active';
CREATE INDEX charging_sessions_station_started ON charging_sessions (station_id, started_at);

-- A StopTransaction for a transaction we never issued: OCPP 1.6 says accept it; it is
-- kept here for the operator, not billed (there is no start to bill from).
CREATE TABLE unmatched_stop_transactions (
    station_id     text NOT NULL,
    transaction_id bigint NOT NULL,
    id_tag         text,
    meter_stop_wh  bigint NOT NULL,
    stopped_at     timestamptz NOT NULL,
    reason         text,
    received_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station_id, transaction_id)
);

-- billing ------------------------------------------------------------------------------
CREATE TABLE tariffs (
    id          text PRIMARY KEY,
    name        text NOT NULL DEFAULT '',
    currency    char(3) NOT NULL,
    is_default  boolean NOT NULL DEFAULT false,
    -- the whole tariff (elements, restrictions, tax rate, time zone) as the billing
    -- service's pydantic model dumps it.
    definition  jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX tariffs_one_default ON tariffs (is_default) WHERE is_default;

-- Which tariff a station bills with; a station without a row uses the default tariff.
CREATE TABLE station_tariffs (
    station_id  text PRIMARY KEY,
    tariff_id   text NOT NULL REFERENCES tariffs (id),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE billing_transactions (
    id               bigserial PRIMARY KEY,
    session_id       bigint NOT NULL UNIQUE REFERENCES charging_sessions (id),
    station_id       text NOT NULL,
    tariff_id        text NOT NULL,
    currency         char(3) NOT NULL,
    energy_wh        bigint NOT NULL,
    charging_seconds integer NOT NULL,
    parking_seconds  integer NOT NULL,
    amount_excl_tax  numeric(14, 4) NOT NULL,
    tax_amount       numeric(14, 4) NOT NULL,
    amount_incl_tax  numeric(14, 4) NOT NULL,
    line_items       jsonb NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);

-- telemetry ----------------------------------------------------------------------------
CREATE TABLE telemetry_data (
    id           bigserial PRIMARY KEY,
    station_id   text NOT NULL,
    connector_id integer NOT NULL,
    session_id   bigint,
    measured_at  timestamptz NOT NULL,
    measurand    text NOT NULL,
    unit         text,
    phase        text,
    location     text,
    context      text,
    format       text,
    value        numeric NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);
-- A redelivered batch (the gateway retries until telemetry answers) stores nothing twice.
CREATE UNIQUE INDEX telemetry_data_natural_key ON telemetry_data
    (station_id, connector_id, measured_at, measurand, phase, location, context) NULLS NOT DISTINCT;
CREATE INDEX telemetry_data_session ON telemetry_data (session_id, measured_at) WHERE session_id IS NOT NULL;

CREATE MATERIALIZED VIEW energy_by_session AS
SELECT session_id,
       station_id,
       min(measured_at) AS first_sample_at,
       max(measured_at) AS last_sample_at,
       max(wh) - min(wh) AS energy_wh
FROM (SELECT session_id, station_id, measured_at,
             CASE WHEN unit = 'kWh' THEN value * 1000 ELSE value END AS wh
      FROM telemetry_data
      WHERE measurand = 'Energy.Active.Import.Register' AND session_id IS NOT NULL) AS readings
GROUP BY session_id, station_id;
CREATE UNIQUE INDEX energy_by_session_key ON energy_by_session (session_id, station_id);

CREATE MATERIALIZED VIEW energy_by_station_day AS
SELECT station_id, day, sum(energy_wh) AS energy_wh, count(*) AS sessions
FROM (SELECT station_id, session_id, date_trunc('day', min(measured_at) AT TIME ZONE 'UTC')::date AS day,
             max(wh) - min(wh) AS energy_wh
      FROM (SELECT station_id, session_id, measured_at,
                   CASE WHEN unit = 'kWh' THEN value * 1000 ELSE value END AS wh
            FROM telemetry_data
            WHERE measurand = 'Energy.Active.Import.Register' AND session_id IS NOT NULL) AS readings
      GROUP BY station_id, session_id) AS per_session
GROUP BY station_id, day;
CREATE UNIQUE INDEX energy_by_station_day_key ON energy_by_station_day (station_id, day);

-- every service: the transactional outbox -----------------------------------------------
-- Work for another service is written here in the same transaction as the state change
-- that caused it, then delivered (and retried) by the service's relay. The receiver is
-- idempotent on `idempotency_key`, so at-least-once delivery is exactly-once in effect.
CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    source          text NOT NULL,
    destination     text NOT NULL,
    path            text NOT NULL,
    idempotency_key text NOT NULL UNIQUE,
    payload         jsonb NOT NULL,
    traceparent     text,
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    -- set when the receiver rejected the event as invalid (4xx): kept for the operator,
    -- no longer retried, and no longer blocking the events behind it.
    dead_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_pending ON outbox (source, destination, id) WHERE dead_at IS NULL;
