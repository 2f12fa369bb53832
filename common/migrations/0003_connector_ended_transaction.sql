-- ocpp gateway: a connector keeps its latest transaction after it ended, marked so: stopped
-- by its station, or closed by the platform because the station booted (many boot on every
-- reconnect, transactions going on). A StopTransaction sent again (its reply was lost), or
-- late after such a boot, and a StartTransaction resent after a boot still find it.
ALTER TABLE connectors ADD COLUMN transaction_ended boolean NOT NULL DEFAULT false;
