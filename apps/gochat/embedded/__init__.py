"""Real PostgreSQL and NATS servers started from wheels, for `gochat dev` and the tests.

Import the modules, not names: `from gochat.embedded import postgres` then
`postgres.EmbeddedPostgres(data_dir=..., port=...)`.
"""
