// The webhooks table (its own module without imports, so store.ts can include it without an import
// cycle). Columns are described in webhook-store.ts.

export const WEBHOOK_SCHEMA = `
CREATE TABLE IF NOT EXISTS webhooks (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  url TEXT NOT NULL,
  secret TEXT NOT NULL,
  filter TEXT NOT NULL DEFAULT '[]',
  format TEXT NOT NULL CHECK (format IN ('gatehouse', 'ocsf')),
  batch INTEGER NOT NULL,
  cursor INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  last_attempt_at INTEGER,
  next_attempt_at INTEGER,
  delivered INTEGER NOT NULL DEFAULT 0,
  last_delivered_at INTEGER
) STRICT;`;
