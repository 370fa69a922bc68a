-- When an open escalation was announced as close to breaching its due time
-- (`escalation.sla_near_breach`), so each is announced once, by one instance.
ALTER TABLE escalations ADD COLUMN near_breach_at BIGINT;
