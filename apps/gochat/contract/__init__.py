"""The contract between the services and whoever deploys them (the operator, the Helm chart).

One module both sides import, so neither keeps a copy of the other: `services` holds each
service's config model (the very pydantic model the service validates with), its port and
probe paths; `metrics` holds the catalogue of metric names, types and labels each service
exports. It imports only `gochat.core`, never service code (`.importlinter` checks this).
"""
