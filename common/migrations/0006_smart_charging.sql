-- ocpp gateway: smart charging (OCPP 1.6 Smart Charging profile) ------------------------
-- The charging profiles each station accepted, as it holds them: a SetChargingProfile the
-- station answered Accepted is stored, a ClearChargingProfile it accepted removes what it
-- names, and a TxProfile goes when its transaction ends (the station drops it too).
CREATE TABLE charging_profiles (
    station_id          text NOT NULL REFERENCES charging_stations (id) ON DELETE CASCADE,
    -- unique per station: a profile with the same id replaces the one the station had
    charging_profile_id integer NOT NULL,
    connector_id        integer NOT NULL CHECK (connector_id >= 0),
    purpose             text NOT NULL
                        CHECK (purpose IN ('ChargePointMaxProfile', 'TxDefaultProfile', 'TxProfile')),
    stack_level         integer NOT NULL CHECK (stack_level >= 0),
    transaction_id      bigint CHECK ((purpose = 'TxProfile') = (transaction_id IS NOT NULL)),
    profile             jsonb NOT NULL,       -- csChargingProfiles as the station accepted it
    accepted_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station_id, charging_profile_id)
);
CREATE INDEX charging_profiles_transaction ON charging_profiles (station_id, transaction_id)
    WHERE transaction_id IS NOT NULL;

-- A power limit shared by a group of stations (one grid connection): divided among the
-- active sessions of its stations and re-sent as sessions start and stop.
CREATE TABLE charging_sites (
    id          text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
    max_power_w integer NOT NULL CHECK (max_power_w > 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- a station belongs to one site at most
CREATE TABLE charging_site_stations (
    station_id text PRIMARY KEY REFERENCES charging_stations (id) ON DELETE CASCADE,
    site_id    text NOT NULL REFERENCES charging_sites (id) ON DELETE CASCADE
);
CREATE INDEX charging_site_stations_site ON charging_site_stations (site_id);
