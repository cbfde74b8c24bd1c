-- "Messages from this user" (author_id, with or without text) walks one author's rows newest
-- first instead of every row of the guild.
CREATE INDEX search_documents_author
    ON search_documents (guild_id, author_id, message_id DESC) WHERE NOT deleted;
