-- Four eyes: the decision of a second operator that a restriction, or a
-- lengthening of it, waits for (curfew.Approval). approval is '' when the
-- restriction needed none; the other columns are then empty too.

ALTER TABLE restrictions ADD COLUMN approval TEXT NOT NULL DEFAULT ''
	CHECK (approval IN ('', 'pending', 'approved', 'rejected'));
-- The operator who asked for it, who may not approve it.
ALTER TABLE restrictions ADD COLUMN approval_asker TEXT NOT NULL DEFAULT '';
-- For an extension: the end asked for. NULL when the restriction itself
-- waits (or waited).
ALTER TABLE restrictions ADD COLUMN approval_extend_to INTEGER;
ALTER TABLE restrictions ADD COLUMN approval_decided_at INTEGER;
ALTER TABLE restrictions ADD COLUMN approval_decided_by TEXT NOT NULL DEFAULT '';
ALTER TABLE restrictions ADD COLUMN approval_reason TEXT NOT NULL DEFAULT '';
