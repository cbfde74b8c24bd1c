-- Notification mail (docs/api.md, "Notification mail"): a user mentioned (<@id>) or sent a
-- direct message who has not read it after a delay gets one mail summarising what is unread.
-- The API's sweep reads channels.last_message_id and read_states (kept by both message stores)
-- and writes the mail into mail_queue in the same transaction as these rows, so a mail is
-- queued once even with several API replicas and across restarts.

-- A user's notification settings; no row means the defaults (e-mail notifications on).
CREATE TABLE notification_settings (
    user_id              bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    email_notifications  boolean NOT NULL DEFAULT true,
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- Per user: when the last notification mail was queued. The row is the lock a sweep takes
-- (FOR UPDATE SKIP LOCKED) before deciding: one decision per user at a time, everywhere.
CREATE TABLE notification_mail_state (
    user_id         bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    last_mailed_at  timestamptz
);

-- Per user and channel: the newest message the sweep has dealt with (mailed about, or found
-- needing no mail). Messages at or below it are never looked at again.
CREATE TABLE notification_cursors (
    user_id             bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    channel_id          bigint NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    through_message_id  bigint NOT NULL,
    PRIMARY KEY (user_id, channel_id)
);

-- The sweep's search for unread mentions: read states with any.
CREATE INDEX read_states_with_mentions ON read_states (user_id) WHERE mention_count > 0;
