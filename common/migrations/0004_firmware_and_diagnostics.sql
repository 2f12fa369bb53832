-- ocpp gateway: firmware management, diagnostics and logs ----------------------------

-- Every FirmwareStatusNotification, DiagnosticsStatusNotification, LogStatusNotification and
-- SignedFirmwareStatusNotification a station sent: its latest status and its history.
CREATE TABLE station_maintenance_statuses (
    id           bigserial PRIMARY KEY,
    station_id   text NOT NULL REFERENCES charging_stations (id) ON DELETE CASCADE,
    notification text NOT NULL CHECK (notification IN ('FirmwareStatusNotification', 'DiagnosticsStatusNotification',
                                                       'LogStatusNotification', 'SignedFirmwareStatusNotification')),
    status       text NOT NULL,
    request_id   integer,
    received_at  timestamptz NOT NULL
);
CREATE INDEX station_maintenance_statuses_station ON station_maintenance_statuses (station_id, id);

-- A GetDiagnostics or GetLog the platform sent: the location it named carries a secret
-- token, so only the station it was given to can upload there, and only until it expires.
-- `id` is also the GetLog requestId.
CREATE TABLE station_upload_requests (
    id          bigserial PRIMARY KEY,
    station_id  text NOT NULL REFERENCES charging_stations (id) ON DELETE CASCADE,
    action      text NOT NULL CHECK (action IN ('GetDiagnostics', 'GetLog')),
    token       text NOT NULL UNIQUE,
    request     jsonb NOT NULL,           -- the payload sent
    reply       jsonb,                    -- the station's CALLRESULT payload
    error       jsonb,                    -- or why there is none (offline, timeout, CALLERROR)
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX station_upload_requests_station ON station_upload_requests (station_id, id);

-- The files stations uploaded to those locations.
CREATE TABLE station_files (
    id                bigserial PRIMARY KEY,
    upload_request_id bigint NOT NULL REFERENCES station_upload_requests (id) ON DELETE CASCADE,
    station_id        text NOT NULL REFERENCES charging_stations (id) ON DELETE CASCADE,
    file_name         text NOT NULL,
    content_type      text NOT NULL,
    size_bytes        bigint NOT NULL,
    sha256            text NOT NULL,
    content           bytea NOT NULL,
    uploaded_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX station_files_station ON station_files (station_id, id);

-- A firmware campaign: one firmware image for many stations. With a signing certificate
-- and a signature it is sent as SignedUpdateFirmware (the security extension), otherwise as
-- UpdateFirmware.
CREATE TABLE firmware_campaigns (
    id                  bigserial PRIMARY KEY,
    name                text NOT NULL DEFAULT '',
    location            text NOT NULL,
    retrieve_date       timestamptz NOT NULL,
    install_date        timestamptz,
    retries             integer,
    retry_interval      integer,
    signing_certificate text,
    signature           text,
    created_at          timestamptz NOT NULL DEFAULT now()
);

-- Each target station of a campaign: `Pending` until it is sent (when the station is online),
-- `Sending` while it is, then what the station answered (`Accepted`, or the signed update's
-- refusal, or `Error` for a CALLERROR) and from then on the firmware statuses it reports.
CREATE TABLE firmware_campaign_stations (
    campaign_id bigint NOT NULL REFERENCES firmware_campaigns (id) ON DELETE CASCADE,
    station_id  text NOT NULL REFERENCES charging_stations (id) ON DELETE CASCADE,
    status      text NOT NULL DEFAULT 'Pending',
    attempts    integer NOT NULL DEFAULT 0,
    reply       jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, station_id)
);
CREATE INDEX firmware_campaign_stations_pending ON firmware_campaign_stations (station_id)
    WHERE status IN ('Pending', 'Sending');
