-- OCPP 1.6 Security Whitepaper (edition 3): security profiles, certificates, security events.

-- How a station must connect: 1 = HTTP Basic (or nothing, for a station without a
-- password) on either port, 2 = TLS + HTTP Basic, 3 = TLS with a client certificate whose
-- CN is the station id. A station is refused on a weaker transport than its profile.
ALTER TABLE charging_stations ADD COLUMN security_profile smallint NOT NULL DEFAULT 1
    CHECK (security_profile BETWEEN 1 AND 3);

-- Certificates on each station, as far as the CSMS knows: the client certificates the
-- platform CA issued (SignCertificate -> CertificateSigned) and the roots installed with
-- InstallCertificate; GetInstalledCertificateIds brings the list in line with the station's.
CREATE TABLE station_certificates (
    id               bigserial PRIMARY KEY,
    station_id       text NOT NULL REFERENCES charging_stations (id) ON DELETE CASCADE,
    certificate_type text NOT NULL CHECK (certificate_type IN
                     ('ChargePointCertificate', 'CentralSystemRootCertificate', 'ManufacturerRootCertificate')),
    -- issued: sent in CertificateSigned, not confirmed yet; rejected: the station refused it;
    -- replaced: a client certificate the station's next one took over from
    status           text NOT NULL CHECK (status IN ('issued', 'installed', 'rejected', 'replaced', 'deleted')),
    -- OCPP CertificateHashData (SHA256), how stations name a certificate
    hash_algorithm   text NOT NULL,
    issuer_name_hash text NOT NULL,
    issuer_key_hash  text NOT NULL,
    serial_number    text NOT NULL,
    subject          text,
    not_after        timestamptz,
    pem              text,             -- absent for a certificate only the station reported
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (station_id, certificate_type, hash_algorithm, issuer_name_hash, issuer_key_hash, serial_number)
);

CREATE TABLE security_events (
    id          bigserial PRIMARY KEY,
    station_id  text NOT NULL REFERENCES charging_stations (id) ON DELETE CASCADE,
    type        text NOT NULL,
    tech_info   text,
    occurred_at timestamptz NOT NULL,  -- the station's timestamp
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX security_events_station_time ON security_events (station_id, occurred_at DESC, id DESC);
