-- A downgrade's refund is owed, not paid, until the workload has the smaller size: paid up
-- front, a failed resize would have to take it back from a wallet that may have spent it, and
-- the ledger lets no wallet go below zero for that.
ALTER TABLE subscriptions ADD COLUMN plan_change_refund bigint CHECK (plan_change_refund > 0);
