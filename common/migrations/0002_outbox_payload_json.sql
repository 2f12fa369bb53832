-- The outbox payload is written once and forwarded as it is, never queried: `json` keeps
-- the text (jsonb would parse it into a binary form, only to print it back for the
-- relay), and EXTERNAL storage skips compressing the large meter-values batches.
ALTER TABLE outbox ALTER COLUMN payload TYPE json USING payload::json;
ALTER TABLE outbox ALTER COLUMN payload SET STORAGE EXTERNAL;
