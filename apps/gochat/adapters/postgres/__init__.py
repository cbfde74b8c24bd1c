"""PostgreSQL adapters (asyncpg): the embedded default for every port."""
