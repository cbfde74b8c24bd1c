"""The search indexer: message events from JetStream into the SearchIndex."""
