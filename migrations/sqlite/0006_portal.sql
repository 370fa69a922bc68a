-- The customer portal: agreement signatures, payments through a provider (checkout sessions,
-- webhook events kept once per id), magic-link sign-in and its throttle.

-- One signature of one exact agreement text: who typed their name, when, from where, and the
-- SHA-256 of the text they saw (the signed copy is kept beside it). A changed text needs a new
-- signature; the same text is signed once.
CREATE TABLE agreement_signatures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    agreement_id BIGINT NOT NULL REFERENCES agreements(id),
    signer_name TEXT NOT NULL,
    signed_at BIGINT NOT NULL,
    ip_address TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    text_sha256 TEXT NOT NULL,
    document TEXT NOT NULL,
    UNIQUE (tenant_id, agreement_id, text_sha256)
);
CREATE INDEX agreement_signatures_customer ON agreement_signatures(tenant_id, customer_id, id);

-- A hosted checkout page the provider opened for an invoice balance.
CREATE TABLE checkout_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    invoice_id BIGINT NOT NULL REFERENCES invoices(id),
    provider TEXT NOT NULL,
    session_id TEXT NOT NULL,
    amount_cents BIGINT NOT NULL,
    url TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (provider, session_id)
);
CREATE INDEX checkout_sessions_invoice ON checkout_sessions(tenant_id, invoice_id);

-- Provider webhook events already handled, by the provider's event id: a retry or a
-- duplicate is answered without doing anything twice.
CREATE TABLE payment_events (
    tenant_id BIGINT NOT NULL,
    provider TEXT NOT NULL,
    event_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (provider, event_id)
);

ALTER TABLE payments ADD COLUMN external_ref TEXT;

-- Single-use sign-in links (stored hashed), sent by SMS or e-mail.
CREATE TABLE portal_links (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    token_hash TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,
    contact TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX portal_links_customer ON portal_links(tenant_id, customer_id);

-- Sign-in link requests, for the per-contact and per-address limits ('contact:…', 'address:…').
CREATE TABLE portal_login_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    key TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX portal_login_requests_key ON portal_login_requests(tenant_id, key, at);
