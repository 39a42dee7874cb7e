-- The billing workers and the webhook deliverer look only at work still to
-- do, which is a few rows among every claim ever made: indexes of those
-- rows alone, in the order they are taken, so a round reads what it takes
-- and no more (the outbox had no index, and was read whole each round).
CREATE INDEX billing_outbox_pending_idx ON billing_outbox (attempts, created_at, id)
    WHERE processed_at IS NULL;
DROP INDEX billing_webhook_due_idx;
CREATE INDEX billing_webhook_due_idx ON billing_webhook_deliveries (next_attempt_at, id)
    WHERE delivered_at IS NULL;
