-- Media Streams URLs: each `<Connect><Stream>` names a single-use, short-lived token bound to
-- one call. Stored as a SHA-256 hash only.
CREATE TABLE stream_tokens (
    token_hash TEXT PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    call_sid TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX stream_tokens_expiry ON stream_tokens(expires_at);
