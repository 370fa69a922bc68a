-- An integration token may be declared to verify its callers itself (an answering service
-- that checked who is calling): only then does a phone on file count as verified for the
-- messages API. Every other token's caller is at most matched.
ALTER TABLE api_tokens ADD COLUMN verifies_callers BOOLEAN NOT NULL DEFAULT FALSE;
