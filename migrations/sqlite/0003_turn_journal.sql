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

CREATE TABLE inbox_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    conversation_id BIGINT NOT NULL REFERENCES conversations(id),
    scope TEXT NOT NULL,
    external_id TEXT NOT NULL,
    text TEXT NOT NULL,
    media TEXT NOT NULL DEFAULT '[]',
    caller TEXT NOT NULL DEFAULT '"unknown"',
    reply_from TEXT,
    received_at BIGINT NOT NULL,
    accepted_wall BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    started BOOLEAN NOT NULL DEFAULT FALSE,
    journal TEXT NOT NULL DEFAULT '[]',
    reply TEXT,
    escalated BOOLEAN NOT NULL DEFAULT FALSE,
    processed_at BIGINT,
    processed_wall BIGINT,
    delivery TEXT,
    UNIQUE (tenant_id, scope, external_id)
);
INSERT INTO inbox_new (id, tenant_id, conversation_id, scope, external_id, text, media, received_at, status, reply, escalated, processed_at, delivery)
    SELECT i.id, i.tenant_id, i.conversation_id, c.channel || ':' || c.participant, i.external_id, i.text, i.media, i.received_at, i.status, i.reply, i.escalated, i.processed_at,
           CASE WHEN i.status = 'done' THEN 'inline' END
    FROM inbox i JOIN conversations c ON c.id = i.conversation_id;
DROP TABLE inbox;
ALTER TABLE inbox_new RENAME TO inbox;
CREATE INDEX inbox_pending ON inbox(conversation_id, status, id);
CREATE INDEX inbox_undelivered ON inbox(status, delivery, processed_wall);

DROP INDEX messages_external;
CREATE UNIQUE INDEX messages_external ON messages(tenant_id, conversation_id, external_id);

ALTER TABLE outbox ADD COLUMN not_before BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN lease_until BIGINT;
ALTER TABLE outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
DROP INDEX outbox_status;
CREATE INDEX outbox_due ON outbox(status, not_before, id);
