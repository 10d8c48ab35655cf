// The audit log's table (its own module without imports, so store.ts can include it). Append-only like
// security_events: triggers refuse UPDATE and DELETE (and the store's recursive_triggers makes INSERT OR
// REPLACE's implicit delete meet them too). What the columns hold: audit-log.ts.

export const AUDIT_SCHEMA = `
CREATE TABLE IF NOT EXISTS audit_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time INTEGER NOT NULL,
  principal_kind TEXT CHECK (principal_kind IN ('user', 'token')),
  principal TEXT,
  token_id INTEGER,
  role TEXT,
  method TEXT NOT NULL,
  route TEXT,
  path TEXT NOT NULL,
  device TEXT,
  status INTEGER NOT NULL,
  code TEXT,
  address TEXT NOT NULL,
  detail TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS audit_log_device ON audit_log (device, id);
CREATE INDEX IF NOT EXISTS audit_log_principal ON audit_log (principal, id);

CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;`;
