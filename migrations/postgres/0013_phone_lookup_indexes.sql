-- Caller lookup reads (tenant, phone) → customer from the index alone; reading a page of
-- customers' phones (the search index rebuild) goes by customer instead of walking every
-- phone of the tenant for each page.
DROP INDEX customer_phones_lookup;
CREATE INDEX customer_phones_lookup ON customer_phones(tenant_id, phone, customer_id);
CREATE INDEX customer_phones_customer ON customer_phones(tenant_id, customer_id);
