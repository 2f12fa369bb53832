-- ocpp gateway: a connector keeps its latest transaction after it ended, marked so: stopped
-- by its station, or closed by the platform because the station booted (many boot on every
-- reconnect, transactions going on). A StopTransaction sent again (its reply was lost), or
-- late after such a boot, and a StartTransaction resent after a boot still find it.
ALTER TABLE connectors ADD COLUMN transaction_ended boolean NOT NULL DEFAULT false;

-- billing: who closed the session a bill prices. A bill for the station's own StopTransaction
-- is final: a late copy of the event for the platform's earlier closure (held back by the
-- network, delivered again) must not bring that closure's bill back.
ALTER TABLE billing_transactions ADD COLUMN closed_by text;
