"""Local-filesystem adapters: the embedded default for a single machine (`make dev`)."""
