"""SMTP adapters: mail delivered through a relay (a cluster's mail server or a provider)."""
