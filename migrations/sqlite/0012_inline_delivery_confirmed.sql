-- A reply answered inline is recorded before it leaves the process; `delivery_wall` marks
-- it unconfirmed until the answer's body has been handed to the connection. Recovery checks
-- an old unconfirmed one against Twilio's message list and sends it if it never went out.
ALTER TABLE inbox ADD COLUMN delivery_wall BIGINT;
