-- Readings are looked up by session only for the energy register (a bill's energy series,
-- the session energy rollups); the other measurands of a sample (power, current and voltage
-- per phase, SoC: eight of an AC station's nine values) cost every stored value an entry in
-- an index no query read. Queries name the measurand as a literal so this index serves them.
DROP INDEX telemetry_data_session;
CREATE INDEX telemetry_data_session_energy ON telemetry_data (session_id, measured_at)
    WHERE session_id IS NOT NULL AND measurand = 'Energy.Active.Import.Register';
