-- auth: the local authorization list is the id_tags table, versioned ----------------------
-- Every change to an id tag takes the next list version, and a deleted tag leaves a
-- tombstone with its version, so a station holding version N gets exactly what changed
-- after N as a differential SendLocalList (a tombstone becomes an entry without idTagInfo,
-- which removes the tag). Triggers, so that every writer (the auth service, the CLI, an
-- operator's psql) versions its change.
CREATE SEQUENCE id_tag_list_version;
ALTER TABLE id_tags ADD COLUMN list_version bigint NOT NULL DEFAULT 0;
CREATE TABLE id_tag_tombstones (
    id_tag       text PRIMARY KEY,
    list_version bigint NOT NULL
);

CREATE FUNCTION id_tag_list_versioned() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Writers take their version and commit one at a time, so no reader can see version
    -- N committed while a lower version is still to come: "what changed after N" stays true.
    PERFORM pg_advisory_xact_lock(7283005);
    IF TG_OP = 'DELETE' THEN
        INSERT INTO id_tag_tombstones (id_tag, list_version) VALUES (OLD.id_tag, nextval('id_tag_list_version'))
        ON CONFLICT (id_tag) DO UPDATE SET list_version = EXCLUDED.list_version;
        RETURN OLD;
    END IF;
    NEW.list_version := nextval('id_tag_list_version');
    DELETE FROM id_tag_tombstones WHERE id_tag = NEW.id_tag;
    RETURN NEW;
END $$;

CREATE TRIGGER id_tags_list_version BEFORE INSERT OR UPDATE OR DELETE ON id_tags
    FOR EACH ROW EXECUTE FUNCTION id_tag_list_versioned();
UPDATE id_tags SET list_version = 0;  -- versions the tags that exist already (the trigger assigns)

-- ocpp gateway: the local list each station holds ------------------------------------------
CREATE TABLE station_local_lists (
    station_id          text PRIMARY KEY REFERENCES charging_stations (id) ON DELETE CASCADE,
    -- what the station holds: the version of its last accepted SendLocalList, or what it
    -- reported to GetLocalListVersion (0: empty, -1: not supported); NULL while unknown
    list_version        integer,
    last_update_type    text CHECK (last_update_type IN ('Full', 'Differential')),
    last_update_version integer,
    -- the station's answer to the last SendLocalList: Accepted, Failed, NotSupported, VersionMismatch
    last_update_status  text,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- ocpp gateway: reservations (ReserveNow) and what became of them --------------------------
CREATE SEQUENCE reservation_ids AS integer;
CREATE TABLE reservations (
    id             bigserial PRIMARY KEY,
    station_id     text NOT NULL REFERENCES charging_stations (id) ON DELETE CASCADE,
    reservation_id integer NOT NULL,          -- the OCPP reservationId
    connector_id   integer NOT NULL CHECK (connector_id >= 0),
    id_tag         text NOT NULL,
    parent_id_tag  text,
    expires_at     timestamptz NOT NULL,
    status         text NOT NULL
                   CHECK (status IN ('Active', 'Rejected', 'Consumed', 'Cancelled', 'Expired', 'Replaced')),
    -- ReserveNow's answer: Accepted, Faulted, Occupied, Rejected, Unavailable
    station_status text NOT NULL,
    transaction_id bigint,                    -- the transaction that consumed it
    created_at     timestamptz NOT NULL DEFAULT now(),
    settled_at     timestamptz
);
-- A station knows one reservation per reservationId: a new one with the same id replaces it.
CREATE UNIQUE INDEX reservations_active ON reservations (station_id, reservation_id) WHERE status = 'Active';
CREATE INDEX reservations_expiring ON reservations (expires_at) WHERE status = 'Active';
CREATE INDEX reservations_by_station ON reservations (station_id, id);
