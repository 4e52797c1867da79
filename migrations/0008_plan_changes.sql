-- Every plan change is its own ledger transfer, keyed by the change's own id: a key made from
-- the target plan and the period would repeat when an undone or reversed change is made again,
-- and the ledger would then move nothing while the plan still changed.
ALTER TABLE subscriptions ADD COLUMN plan_change_id uuid;
