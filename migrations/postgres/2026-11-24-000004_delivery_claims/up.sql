-- A delivery worker's claim on an event it is sending. While `status = 'sending'`,
-- `claim_token` names the one claim allowed to record the attempt's outcome and
-- `next_attempt_at` is the end of the claim's lease: a claim whose node died expires then and
-- the event is claimed again. A revocation cancels `pending` and `sending` events; a cancelled
-- event whose `claim_token` is still set has an attempt in flight until its lease ends.
ALTER TABLE outbox_events ADD COLUMN claim_token TEXT;
