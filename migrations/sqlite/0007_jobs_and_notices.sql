-- The durable job scheduler every instance runs (reminders, field notices, invoice notices):
-- one row per piece of scheduled work, unique per tenant and key so planning is idempotent,
-- leased by one runner at a time, retried with backoff. Field events from technicians and
-- the answers to the completion survey. E-mail rows in the outbox carry a subject.

CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    subject_id BIGINT,
    subject_at BIGINT,
    payload TEXT NOT NULL DEFAULT '{}',
    due_at BIGINT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    lease_until BIGINT,
    attempts BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (tenant_id, key)
);
CREATE INDEX jobs_due ON jobs(status, due_at, id);
CREATE INDEX jobs_subject ON jobs(tenant_id, kind, subject_id);

CREATE TABLE field_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    appointment_id BIGINT NOT NULL REFERENCES appointments(id),
    kind TEXT NOT NULL,
    eta_minutes BIGINT,
    note TEXT,
    findings TEXT,
    products TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX field_events_appointment ON field_events(tenant_id, appointment_id, id);

CREATE TABLE survey_answers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    appointment_id BIGINT NOT NULL REFERENCES appointments(id),
    customer_id BIGINT NOT NULL,
    rating BIGINT NOT NULL CHECK (rating BETWEEN 1 AND 5),
    at BIGINT NOT NULL,
    UNIQUE (tenant_id, appointment_id)
);

ALTER TABLE outbox ADD COLUMN subject TEXT;

-- The last proactive message a conversation's customer may be answering (a reminder's C/R, a
-- survey's 1-5): read and cleared by the customer's next message.
ALTER TABLE conversations ADD COLUMN notice TEXT;
