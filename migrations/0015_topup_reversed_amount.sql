-- How much of a top-up Midtrans has refunded or charged back so far, on the order row itself:
-- a reversal locks the row and reads it in the statement that moves the money, so concurrent
-- reports of one order each move only what is not reversed yet (a sum over the ledger, read
-- in the same statement, would miss a reversal committed while it waited for the lock).
ALTER TABLE topups ADD COLUMN reversed_amount bigint NOT NULL DEFAULT 0;

UPDATE topups p SET reversed_amount = r.total
FROM (SELECT reference, sum(amount) AS total FROM ledger_transfers
      WHERE kind = 'TOP_UP_REVERSAL' GROUP BY reference) r
WHERE r.reference = p.order_id;

ALTER TABLE topups ADD CONSTRAINT topups_reversed_amount_check
    CHECK (reversed_amount >= 0 AND reversed_amount <= amount);
