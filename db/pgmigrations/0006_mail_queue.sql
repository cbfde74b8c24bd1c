-- Mail the auth service owes someone, written in the same transaction as the change that calls
-- for it (a new account, a reset token) and sent by a background sender that retries with
-- backoff: a relay or provider outage delays a mail and never loses it or the user's action.
-- A sent mail's row is deleted. A mail that cannot be sent (permanent rejection, or attempts
-- exhausted) keeps its row with failed_at set and its variables emptied: the token it carried
-- is no longer stored anywhere in clear.
CREATE TABLE mail_queue (
    id               bigserial PRIMARY KEY,
    kind             text NOT NULL,
    recipient        text NOT NULL,
    locale           text NOT NULL,
    variables        jsonb NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    failed_at        timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mail_queue_due ON mail_queue (next_attempt_at) WHERE failed_at IS NULL;
