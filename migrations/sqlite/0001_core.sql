-- Core schema. Every row carries tenant_id; every query filters on it.
-- Instants are BIGINT unix seconds (UTC); calendar dates are TEXT 'YYYY-MM-DD';
-- structured settings are JSON in TEXT.

CREATE TABLE tenants (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    timezone TEXT NOT NULL,
    business_hours TEXT NOT NULL,
    policy TEXT NOT NULL,
    on_call_number TEXT,
    office_phone TEXT,
    branding TEXT NOT NULL DEFAULT '{}',
    twilio_account_sid TEXT,
    twilio_auth_token TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE tenant_numbers (
    number TEXT PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id)
);
CREATE INDEX tenant_numbers_tenant ON tenant_numbers(tenant_id);

CREATE TABLE customers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    company TEXT,
    status TEXT NOT NULL,
    autopay BOOLEAN NOT NULL DEFAULT FALSE,
    search_text TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX customers_tenant ON customers(tenant_id, id);

CREATE TABLE customer_phones (
    tenant_id BIGINT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    phone TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT 'mobile',
    PRIMARY KEY (customer_id, phone)
);
CREATE INDEX customer_phones_lookup ON customer_phones(tenant_id, phone);

CREATE TABLE customer_emails (
    tenant_id BIGINT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    email TEXT NOT NULL,
    PRIMARY KEY (customer_id, email)
);

CREATE TABLE zones (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    UNIQUE (tenant_id, code)
);

CREATE TABLE properties (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    street TEXT NOT NULL,
    city TEXT NOT NULL,
    state TEXT NOT NULL,
    zip TEXT NOT NULL,
    zone_id BIGINT NOT NULL REFERENCES zones(id),
    sq_ft BIGINT,
    kind TEXT NOT NULL
);
CREATE INDEX properties_customer ON properties(tenant_id, customer_id);

CREATE TABLE technicians (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    phone TEXT
);

CREATE TABLE technician_zone_days (
    tenant_id BIGINT NOT NULL,
    technician_id BIGINT NOT NULL REFERENCES technicians(id),
    zone_id BIGINT NOT NULL REFERENCES zones(id),
    weekday BIGINT NOT NULL,
    PRIMARY KEY (technician_id, zone_id, weekday)
);

CREATE TABLE services (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    pests TEXT NOT NULL,
    duration_minutes BIGINT NOT NULL,
    pricing TEXT NOT NULL,
    recurring_interval_days BIGINT,
    agent_bookable BOOLEAN NOT NULL,
    UNIQUE (tenant_id, code)
);

-- One service window of one zone on one day, with a capacity in stops.
CREATE TABLE slots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    zone_id BIGINT NOT NULL REFERENCES zones(id),
    technician_id BIGINT NOT NULL REFERENCES technicians(id),
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    capacity BIGINT NOT NULL,
    booked BIGINT NOT NULL DEFAULT 0,
    CHECK (booked >= 0 AND booked <= capacity),
    UNIQUE (tenant_id, zone_id, starts_at)
);

CREATE TABLE appointments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    property_id BIGINT NOT NULL REFERENCES properties(id),
    service_id BIGINT NOT NULL REFERENCES services(id),
    slot_id BIGINT NOT NULL REFERENCES slots(id),
    technician_id BIGINT NOT NULL REFERENCES technicians(id),
    window_start BIGINT NOT NULL,
    window_end BIGINT NOT NULL,
    status TEXT NOT NULL,
    price_cents BIGINT NOT NULL,
    reschedule_count BIGINT NOT NULL DEFAULT 0,
    last_rescheduled_by TEXT,
    original_window_start BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX appointments_customer ON appointments(tenant_id, customer_id);

CREATE TABLE service_visits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    property_id BIGINT NOT NULL REFERENCES properties(id),
    service_id BIGINT NOT NULL REFERENCES services(id),
    technician_id BIGINT NOT NULL REFERENCES technicians(id),
    completed_at BIGINT NOT NULL,
    notes TEXT NOT NULL,
    findings TEXT NOT NULL,
    products TEXT NOT NULL
);
CREATE INDEX service_visits_customer ON service_visits(tenant_id, customer_id);

CREATE TABLE invoices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    number TEXT NOT NULL,
    amount_cents BIGINT NOT NULL,
    balance_cents BIGINT NOT NULL,
    issued_on TEXT NOT NULL,
    due_on TEXT NOT NULL,
    status TEXT NOT NULL,
    UNIQUE (tenant_id, number)
);
CREATE INDEX invoices_customer ON invoices(tenant_id, customer_id);

CREATE TABLE payments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    invoice_id BIGINT NOT NULL REFERENCES invoices(id),
    amount_cents BIGINT NOT NULL,
    method TEXT NOT NULL,
    paid_at BIGINT NOT NULL
);
CREATE INDEX payments_customer ON payments(tenant_id, customer_id);

CREATE TABLE agreements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    property_id BIGINT NOT NULL REFERENCES properties(id),
    service_id BIGINT NOT NULL REFERENCES services(id),
    status TEXT NOT NULL,
    signature_status TEXT NOT NULL,
    starts_on TEXT NOT NULL,
    renews_on TEXT NOT NULL,
    price_cents BIGINT NOT NULL
);
CREATE INDEX agreements_customer ON agreements(tenant_id, customer_id);

CREATE TABLE portal_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    kind TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}',
    at BIGINT NOT NULL
);
CREATE INDEX portal_events_customer ON portal_events(tenant_id, customer_id, at);

CREATE TABLE conversations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    channel TEXT NOT NULL,
    customer_id BIGINT REFERENCES customers(id),
    property_id BIGINT REFERENCES properties(id),
    identity_level TEXT NOT NULL,
    owner TEXT NOT NULL,
    participant TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX conversations_customer ON conversations(tenant_id, customer_id);
CREATE INDEX conversations_participant ON conversations(tenant_id, channel, participant);

CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    conversation_id BIGINT NOT NULL REFERENCES conversations(id),
    direction TEXT NOT NULL,
    author TEXT NOT NULL,
    text TEXT NOT NULL,
    external_id TEXT,
    media TEXT NOT NULL DEFAULT '[]',
    at BIGINT NOT NULL
);
CREATE INDEX messages_conversation ON messages(tenant_id, conversation_id, id);
CREATE UNIQUE INDEX messages_external ON messages(tenant_id, external_id);

CREATE TABLE tool_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    conversation_id BIGINT NOT NULL REFERENCES conversations(id),
    tool TEXT NOT NULL,
    arguments TEXT NOT NULL,
    result TEXT NOT NULL,
    decision TEXT NOT NULL,
    rule TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX tool_calls_conversation ON tool_calls(tenant_id, conversation_id);

CREATE TABLE escalations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    conversation_id BIGINT NOT NULL REFERENCES conversations(id),
    customer_id BIGINT REFERENCES customers(id),
    reason TEXT NOT NULL,
    priority TEXT NOT NULL,
    summary TEXT NOT NULL,
    status TEXT NOT NULL,
    assignee BIGINT,
    due_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    resolved_at BIGINT,
    resolution TEXT
);
CREATE INDEX escalations_queue ON escalations(tenant_id, status, due_at);
CREATE INDEX escalations_customer ON escalations(tenant_id, customer_id);

CREATE TABLE opt_outs (
    tenant_id BIGINT NOT NULL,
    phone TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, phone)
);

CREATE TABLE operator_users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    role TEXT NOT NULL,
    UNIQUE (tenant_id, email)
);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    user_id BIGINT REFERENCES operator_users(id),
    role TEXT NOT NULL,
    label TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
