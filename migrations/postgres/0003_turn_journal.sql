-- Turns that survive crashes and never hold the write lock across a model call:
-- a per-conversation lease instead of a long transaction, an inbox row that records what
-- the channel asserted and how far its turn got (journal of tool steps), where its reply
-- went; external ids scoped to one channel and sender; an outbox whose rows are leased,
-- deferred by time and retried with a bound.

ALTER TABLE conversations ADD COLUMN lease_owner TEXT;
ALTER TABLE conversations ADD COLUMN lease_until BIGINT;
-- The number the channel reported for the writer (a voice conversation is keyed by its
-- call, not by the number): how a person reaches them, and whose attempts count together.
ALTER TABLE conversations ADD COLUMN caller_phone TEXT;

ALTER TABLE inbox ADD COLUMN scope TEXT;
UPDATE inbox SET scope = c.channel || ':' || c.participant FROM conversations c WHERE c.id = inbox.conversation_id;
ALTER TABLE inbox ALTER COLUMN scope SET NOT NULL;
ALTER TABLE inbox DROP CONSTRAINT inbox_tenant_id_external_id_key;
ALTER TABLE inbox ADD CONSTRAINT inbox_scope_external UNIQUE (tenant_id, scope, external_id);
ALTER TABLE inbox ADD COLUMN caller TEXT NOT NULL DEFAULT '"unknown"';
ALTER TABLE inbox ADD COLUMN reply_from TEXT;
ALTER TABLE inbox ADD COLUMN accepted_wall BIGINT NOT NULL DEFAULT 0;
ALTER TABLE inbox ADD COLUMN started BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE inbox ADD COLUMN journal TEXT NOT NULL DEFAULT '[]';
ALTER TABLE inbox ADD COLUMN processed_wall BIGINT;
ALTER TABLE inbox ADD COLUMN delivery TEXT;
UPDATE inbox SET delivery = 'inline' WHERE status = 'done';
CREATE INDEX inbox_undelivered ON inbox(status, delivery, processed_wall);

DROP INDEX messages_external;
CREATE UNIQUE INDEX messages_external ON messages(tenant_id, conversation_id, external_id);

ALTER TABLE outbox ADD COLUMN not_before BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN lease_until BIGINT;
ALTER TABLE outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
DROP INDEX outbox_status;
CREATE INDEX outbox_due ON outbox(status, not_before, id);
