"""The real-time WebSocket gateway (`gochat ws`): protocol, sessions, dispatch, resume, drain."""
