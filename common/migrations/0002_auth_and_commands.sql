-- auth: API clients, station credentials, id tags ------------------------------------
CREATE TABLE api_clients (
    client_id   text PRIMARY KEY,
    secret_hash text NOT NULL,            -- argon2id
    scopes      text[] NOT NULL DEFAULT '{read}',
    disabled    boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- OCPP security profile 1: HTTP Basic on the upgrade, username = station id.
CREATE TABLE station_credentials (
    station_id    text PRIMARY KEY,
    password_hash text NOT NULL,          -- argon2id
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE id_tags (
    id_tag        text PRIMARY KEY CHECK (length(id_tag) BETWEEN 1 AND 20),
    status        text NOT NULL DEFAULT 'Accepted'
                  CHECK (status IN ('Accepted', 'Blocked', 'Expired', 'Invalid')),
    expires_at    timestamptz,
    parent_id_tag text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- ocpp gateway: remote starts the station accepted, until its StartTransaction comes ------
CREATE TABLE remote_start_requests (
    id             bigserial PRIMARY KEY,
    station_id     text NOT NULL,
    connector_id   integer,
    id_tag         text NOT NULL,
    status         text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'started', 'expired')),
    transaction_id bigint,
    requested_at   timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    settled_at     timestamptz
);
CREATE INDEX remote_start_requests_pending ON remote_start_requests (station_id, requested_at)
    WHERE status = 'pending';
