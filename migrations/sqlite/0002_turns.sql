-- The turn pipeline: per-conversation agent state, one open conversation per participant
-- and channel, and the inbox that makes inbound delivery exactly-once and ordered.

ALTER TABLE conversations ADD COLUMN state TEXT NOT NULL DEFAULT '{}';
CREATE UNIQUE INDEX conversations_open_participant ON conversations(tenant_id, channel, participant) WHERE status = 'open';

CREATE TABLE inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    conversation_id BIGINT NOT NULL REFERENCES conversations(id),
    external_id TEXT NOT NULL,
    text TEXT NOT NULL,
    media TEXT NOT NULL DEFAULT '[]',
    received_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    reply TEXT,
    escalated BOOLEAN NOT NULL DEFAULT FALSE,
    processed_at BIGINT,
    UNIQUE (tenant_id, external_id)
);
CREATE INDEX inbox_pending ON inbox(conversation_id, status, id);

-- Outbound messages (SMS replies sent later, CSR replies, on-call pages) and their delivery.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    conversation_id BIGINT REFERENCES conversations(id),
    channel TEXT NOT NULL,
    to_addr TEXT NOT NULL,
    from_addr TEXT NOT NULL,
    body TEXT NOT NULL,
    purpose TEXT NOT NULL,
    status TEXT NOT NULL,
    provider_id TEXT,
    error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX outbox_status ON outbox(status, id);

-- Per-tenant key that signs customer portal tokens.
ALTER TABLE tenants ADD COLUMN portal_key TEXT NOT NULL DEFAULT '';
