"""Every router of the API service, busiest first. FastAPI tries a request against the included
routers in this order, and each router it passes costs ~10 µs: with messages seventh, routing a
send took ~90 µs, with it first ~11 µs (bench/api/FINDINGS.md). The OpenAPI document lists them
in this order too. No path of one router matches a path of another, so the order changes no
routing decision."""

from gochat.api.routers import (
    attachments,
    channels,
    guilds,
    invites,
    members,
    messages,
    notification_settings,
    reactions,
    read_states,
    roles,
    search,
    users,
)

ROUTERS = [
    messages.router,
    reactions.router,
    read_states.router,
    channels.router,
    guilds.router,
    members.router,
    roles.router,
    invites.router,
    users.router,
    notification_settings.router,
    search.router,
    attachments.router,
]
