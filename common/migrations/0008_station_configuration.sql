-- ocpp gateway: the configuration keys each station reports, the values the operator wants
-- enforced, and what the station answered to each ChangeConfiguration ----------------------

-- OCPP key -> value the gateway enforces while the station is online (registry PUT).
ALTER TABLE charging_stations ADD COLUMN desired_configuration jsonb NOT NULL DEFAULT '{}'::jsonb;

-- What the station's last GetConfiguration replies said, key by key: a known key with its
-- value and readonly flag, or one the station listed as unknownKey.
CREATE TABLE station_configuration (
    station_id  text NOT NULL REFERENCES charging_stations (id) ON DELETE CASCADE,
    key         text NOT NULL,
    known       boolean NOT NULL,
    value       text,                     -- OCPP lets a known key have no value
    readonly    boolean,
    reported_at timestamptz NOT NULL,
    PRIMARY KEY (station_id, key)
);

-- The last ChangeConfiguration of each key: the value asked for and the station's answer.
CREATE TABLE station_configuration_changes (
    station_id   text NOT NULL REFERENCES charging_stations (id) ON DELETE CASCADE,
    key          text NOT NULL,
    value        text NOT NULL,
    status       text NOT NULL CHECK (status IN ('Accepted', 'RebootRequired', 'Rejected', 'NotSupported',
                                                 'Failed')),
    detail       text,                    -- why Failed: a CALLERROR, a timeout, the station went offline
    source       text NOT NULL CHECK (source IN ('desired', 'api')),
    requested_at timestamptz NOT NULL,
    PRIMARY KEY (station_id, key)
);
