// The rollout tables (their own module without imports, so store.ts can include them without an import
// cycle). Columns are described in rollouts.ts.

export const ROLLOUT_SCHEMA = `
CREATE TABLE IF NOT EXISTS rollouts (
  id TEXT PRIMARY KEY,
  state TEXT NOT NULL CHECK (state IN ('running', 'halted', 'aborted', 'done')),
  reason TEXT,
  file BLOB NOT NULL,
  manifest_seq INTEGER NOT NULL,
  image_size INTEGER NOT NULL,
  image_digest TEXT NOT NULL,
  wave_size INTEGER NOT NULL,
  max_failures INTEGER NOT NULL,
  block_size INTEGER NOT NULL,
  wave INTEGER NOT NULL,
  created_by TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS rollout_devices (
  rollout TEXT NOT NULL REFERENCES rollouts (id),
  device TEXT NOT NULL,
  wave INTEGER NOT NULL,
  state TEXT NOT NULL,
  progress INTEGER NOT NULL,
  code TEXT,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (rollout, device)
) STRICT;`;
