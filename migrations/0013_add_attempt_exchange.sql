-- Each attempt keeps the request as the action sent it and the head of the answer (issue 13, delivery detail).
-- Bounded at write time (src/delivery/exchange.ts): the request body to 16 KiB (request_body_bytes is the
-- original size), at most 50 headers each way with values cut at 1 KiB, configured secret values masked.
-- NULL request_method: the attempt sent no HTTP request through the guarded fetch, or predates this migration.

ALTER TABLE delivery_attempts
  ADD COLUMN request_method          text,
  ADD COLUMN request_url             text,
  ADD COLUMN request_headers         jsonb,
  ADD COLUMN request_body            text,
  ADD COLUMN request_body_bytes      integer,
  ADD COLUMN request_body_truncated  boolean NOT NULL DEFAULT false,
  ADD COLUMN response_headers        jsonb,
  ADD COLUMN response_body_truncated boolean NOT NULL DEFAULT false;
