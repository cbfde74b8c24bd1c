-- GoChat relational schema. Ids are snowflakes (bigint) issued by the services.

CREATE TABLE users (
    id                  bigint PRIMARY KEY,
    username            text NOT NULL,
    email               text NOT NULL,
    password_hash       text NOT NULL,
    display_name        text,
    bio                 text,
    avatar_url          text,
    email_confirmed_at  timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- Single-use tokens sent by mail (e-mail confirmation, password reset); only hashes are stored.
CREATE TABLE mail_tokens (
    token_hash  bytea PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     text NOT NULL CHECK (purpose IN ('confirm_email', 'reset_password')),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mail_tokens_user ON mail_tokens (user_id, purpose);

-- Refresh tokens rotate; each rotation links the family, so reuse of a rotated token revokes it.
CREATE TABLE refresh_tokens (
    id          bigint PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   bigint NOT NULL,
    token_hash  bytea NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    rotated_at  timestamptz,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

-- Sliding counters shared by every auth replica (per account and per IP).
CREATE TABLE rate_limit_hits (
    bucket      text NOT NULL,
    window_start timestamptz NOT NULL,
    hits        integer NOT NULL,
    PRIMARY KEY (bucket, window_start)
);

CREATE TABLE guilds (
    id           bigint PRIMARY KEY,
    name         text NOT NULL,
    description  text,
    icon_url     text,
    owner_id     bigint NOT NULL REFERENCES users (id),
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- The @everyone role has id = guild id and position 0.
CREATE TABLE roles (
    id           bigint PRIMARY KEY,
    guild_id     bigint NOT NULL REFERENCES guilds (id) ON DELETE CASCADE,
    name         text NOT NULL,
    color        integer NOT NULL DEFAULT 0,
    permissions  bigint NOT NULL,
    position     integer NOT NULL,
    mentionable  boolean NOT NULL DEFAULT false,
    hoist        boolean NOT NULL DEFAULT false
);
CREATE INDEX roles_guild ON roles (guild_id, position);

CREATE TABLE members (
    guild_id   bigint NOT NULL REFERENCES guilds (id) ON DELETE CASCADE,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    nick       text,
    joined_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (guild_id, user_id)
);
CREATE INDEX members_user ON members (user_id);

CREATE TABLE member_roles (
    guild_id  bigint NOT NULL,
    user_id   bigint NOT NULL,
    role_id   bigint NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    PRIMARY KEY (guild_id, user_id, role_id),
    FOREIGN KEY (guild_id, user_id) REFERENCES members (guild_id, user_id) ON DELETE CASCADE
);

CREATE TABLE bans (
    guild_id    bigint NOT NULL REFERENCES guilds (id) ON DELETE CASCADE,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason      text,
    banned_by   bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (guild_id, user_id)
);

CREATE TABLE channels (
    id               bigint PRIMARY KEY,
    type             text NOT NULL CHECK (type IN ('text', 'category', 'dm')),
    guild_id         bigint REFERENCES guilds (id) ON DELETE CASCADE,
    name             text,
    topic            text,
    position         integer NOT NULL DEFAULT 0,
    parent_id        bigint REFERENCES channels (id) ON DELETE SET NULL,
    dm_key           text UNIQUE,  -- "<low user id>:<high user id>" for direct messages
    last_message_id  bigint,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((type = 'dm') = (guild_id IS NULL))
);
CREATE INDEX channels_guild ON channels (guild_id, position);

CREATE TABLE channel_recipients (
    channel_id  bigint NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (channel_id, user_id)
);
CREATE INDEX channel_recipients_user ON channel_recipients (user_id);

CREATE TABLE overwrites (
    channel_id   bigint NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    target_id    bigint NOT NULL,
    target_type  text NOT NULL CHECK (target_type IN ('role', 'member')),
    allow        bigint NOT NULL DEFAULT 0,
    deny         bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (channel_id, target_id)
);

CREATE TABLE invites (
    code        text PRIMARY KEY,
    guild_id    bigint NOT NULL REFERENCES guilds (id) ON DELETE CASCADE,
    channel_id  bigint REFERENCES channels (id) ON DELETE CASCADE,
    inviter_id  bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    max_uses    integer NOT NULL DEFAULT 0,  -- 0: unlimited
    uses        integer NOT NULL DEFAULT 0,
    expires_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invites_guild ON invites (guild_id);

CREATE TABLE messages (
    id                bigint PRIMARY KEY,
    channel_id        bigint NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    guild_id          bigint,
    author_id         bigint NOT NULL REFERENCES users (id),
    content           text NOT NULL,
    nonce             text,
    reply_to_id       bigint,
    mention_ids       bigint[] NOT NULL DEFAULT '{}',
    mention_everyone  boolean NOT NULL DEFAULT false,
    pinned_at         timestamptz,
    created_at        timestamptz NOT NULL,
    edited_at         timestamptz
);
CREATE INDEX messages_channel ON messages (channel_id, id);
CREATE UNIQUE INDEX messages_nonce ON messages (channel_id, author_id, nonce) WHERE nonce IS NOT NULL;
CREATE INDEX messages_pinned ON messages (channel_id, pinned_at) WHERE pinned_at IS NOT NULL;

CREATE TABLE reactions (
    message_id  bigint NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    emoji       text NOT NULL,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, emoji, user_id)
);

CREATE TABLE read_states (
    user_id               bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    channel_id            bigint NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    last_read_message_id  bigint,
    mention_count         integer NOT NULL DEFAULT 0,
    updated_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, channel_id)
);

-- Transactional outbox: written in the same transaction as the change it describes,
-- published to JetStream in seq order by one leader, marked published after JetStream's ack.
CREATE TABLE outbox (
    seq           bigserial PRIMARY KEY,
    event_id      bigint NOT NULL UNIQUE,
    subject       text NOT NULL,
    payload       bytea NOT NULL,
    headers       jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
