-- Hosts: each tenant's home host, and each job's host with the lease it renews while it
-- runs (so that a job whose process is gone can be told from a live one).
ALTER TABLE tenants ADD COLUMN host TEXT;
ALTER TABLE jobs ADD COLUMN host TEXT;
ALTER TABLE jobs ADD COLUMN lease_until TEXT;
CREATE INDEX jobs_running_by_host ON jobs (host, pid) WHERE status = 'running';
