-- The messages a queued notification mail is about (docs/api.md, "Notification mail"). When the
-- mail's turn comes, auth's sender drops it unsent if its recipient has read every one of them
-- by then (a relay outage can hold a mail for hours). Gone with the mail's row.
CREATE TABLE notification_mail_messages (
    mail_id     bigint NOT NULL REFERENCES mail_queue (id) ON DELETE CASCADE,
    user_id     bigint NOT NULL,
    channel_id  bigint NOT NULL,
    message_id  bigint NOT NULL,
    PRIMARY KEY (mail_id, message_id)
);
