-- The double-entry ledger. Every movement of money is one transfer between two accounts, written
-- as two entries (a debit, negative, and a credit, positive) in the same database transaction as
-- the business change it pays for. Transfers and entries are append-only.

CREATE TABLE ledger_accounts (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind       text NOT NULL
               CHECK (kind IN ('WALLET', 'GATEWAY_CLEARING', 'REVENUE', 'REFUNDS', 'ADJUSTMENTS')),
    user_id    uuid UNIQUE REFERENCES users (id),
    -- The wallet balance: a cache that always equals the sum of the account's entries. System
    -- accounts keep none: every transfer would queue on their row, and their balance is a sum.
    balance    bigint,
    created_at timestamp NOT NULL,
    CHECK ((kind = 'WALLET') = (user_id IS NOT NULL)),
    CHECK ((kind = 'WALLET') = (balance IS NOT NULL))
);

CREATE UNIQUE INDEX ledger_accounts_system_key ON ledger_accounts (kind) WHERE user_id IS NULL;

INSERT INTO ledger_accounts (kind, created_at)
SELECT kind, now() AT TIME ZONE 'utc'
FROM unnest(ARRAY['GATEWAY_CLEARING', 'REVENUE', 'REFUNDS', 'ADJUSTMENTS']) AS kind;

-- Every user has a wallet from the moment the account exists.
CREATE FUNCTION open_wallet() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ledger_accounts (kind, user_id, balance, created_at)
    VALUES ('WALLET', NEW.id, 0, NEW.created_at);
    RETURN NEW;
END
$$;

CREATE TRIGGER users_open_wallet AFTER INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION open_wallet();

INSERT INTO ledger_accounts (kind, user_id, balance, created_at)
SELECT 'WALLET', id, 0, created_at FROM users;

CREATE TABLE ledger_transfers (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- What makes a retry harmless: `midtrans:<order_id>`, `renewal:<subscription>:<period>`, ...
    idempotency_key   text NOT NULL UNIQUE,
    kind              text NOT NULL CHECK (kind IN ('TOP_UP', 'TOP_UP_REVERSAL', 'SUBSCRIPTION',
                          'UPGRADE', 'RENEWAL', 'REFUND', 'ADMIN_ADJUSTMENT')),
    debit_account_id  uuid NOT NULL REFERENCES ledger_accounts (id),
    credit_account_id uuid NOT NULL REFERENCES ledger_accounts (id),
    amount            bigint NOT NULL CHECK (amount > 0),
    description       text NOT NULL,
    -- The business object it pays for: an order id, a subscription id.
    reference         text,
    -- Who moved it by hand (administrator adjustments).
    actor_id          uuid REFERENCES users (id),
    created_at        timestamp NOT NULL,
    CHECK (debit_account_id <> credit_account_id)
);

CREATE TABLE ledger_entries (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transfer_id   uuid NOT NULL REFERENCES ledger_transfers (id),
    account_id    uuid NOT NULL REFERENCES ledger_accounts (id),
    amount        bigint NOT NULL CHECK (amount <> 0),
    -- The wallet's balance after this entry; system accounts keep no running balance.
    balance_after bigint,
    created_at    timestamp NOT NULL
);

CREATE INDEX ledger_entries_account_idx ON ledger_entries (account_id, id);
CREATE INDEX ledger_entries_transfer_idx ON ledger_entries (transfer_id);
CREATE INDEX ledger_transfers_reference_idx ON ledger_transfers (reference);

CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$;

CREATE TRIGGER ledger_transfers_append_only BEFORE UPDATE OR DELETE ON ledger_transfers
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_transfers_no_truncate BEFORE TRUNCATE ON ledger_transfers
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

-- Wallet top-ups through Midtrans. A top-up is stored PENDING before Snap is called; the wallet
-- is credited by a ledger transfer (`midtrans:<order_id>`) when Midtrans reports the payment.
CREATE TABLE topups (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id                uuid NOT NULL REFERENCES users (id),
    order_id               text NOT NULL UNIQUE,
    amount                 bigint NOT NULL CHECK (amount > 0),
    status                 text NOT NULL
                           CHECK (status IN ('PENDING', 'SETTLED', 'FAILED', 'REFUNDED', 'CHARGED_BACK')),
    idempotency_key        text,
    snap_token             text,
    redirect_url           text,
    payment_type           text,
    gateway_transaction_id text,
    -- The last transaction_status Midtrans reported, and why a failed top-up failed.
    gateway_status         text,
    failure_reason         text,
    created_at             timestamp NOT NULL,
    updated_at             timestamp NOT NULL,
    settled_at             timestamp,
    UNIQUE (user_id, idempotency_key)
);

CREATE INDEX topups_user_idx ON topups (user_id, created_at DESC);
CREATE INDEX topups_pending_idx ON topups (created_at) WHERE status = 'PENDING';

-- What a user sees as their wallet transactions: every ledger entry on their wallet, and the
-- top-ups that have not (or not yet) moved money.
CREATE VIEW wallet_transactions AS
SELECT t.id,
       a.user_id,
       t.kind AS type,
       'SUCCESS' AS status,
       e.amount,
       e.balance_after - e.amount AS balance_before,
       e.balance_after,
       p.payment_type AS payment_method,
       t.reference,
       t.description,
       t.created_at
FROM ledger_entries e
JOIN ledger_transfers t ON t.id = e.transfer_id
JOIN ledger_accounts a ON a.id = e.account_id
LEFT JOIN topups p ON t.kind IN ('TOP_UP', 'TOP_UP_REVERSAL') AND p.order_id = t.reference
WHERE a.user_id IS NOT NULL
UNION ALL
SELECT p.id, p.user_id, 'TOP_UP', p.status, p.amount, NULL, NULL, p.payment_type, p.order_id,
       'Wallet top-up', p.created_at
FROM topups p
WHERE p.status IN ('PENDING', 'FAILED');
