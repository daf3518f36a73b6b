-- Hosts: each tenant's home host, and each job's host with the lease it renews while it
-- runs, by the database's clock (hosts' clocks need not agree).
ALTER TABLE tenants ADD COLUMN host text;
ALTER TABLE jobs ADD COLUMN host text;
ALTER TABLE jobs ADD COLUMN lease_until timestamptz;
CREATE INDEX jobs_running_by_host ON jobs (host, pid) WHERE status = 'running';

-- Events in commit order: ids come from a sequence, and a transaction that took a
-- lower id may commit after one that took a higher id. Each event keeps the id of the
-- transaction that wrote it; readers take only events of transactions older than every
-- transaction still running (below their snapshot's xmin), in (xid, id) order. Once
-- handed out, nothing can come before an event in that order.
ALTER TABLE events ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX events_by_position ON events (xid, id);
