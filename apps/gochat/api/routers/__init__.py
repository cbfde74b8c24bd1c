"""Every router of the API service, in the order they appear in the OpenAPI document."""

from gochat.api.routers import (
    channels,
    guilds,
    invites,
    members,
    messages,
    reactions,
    read_states,
    roles,
    search,
    users,
)

ROUTERS = [
    users.router,
    guilds.router,
    members.router,
    invites.router,
    channels.router,
    roles.router,
    messages.router,
    reactions.router,
    search.router,
    read_states.router,
]
