"""The REST API service: users, guilds, channels, roles, messages, search."""
