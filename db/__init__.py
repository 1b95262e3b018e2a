"""The data layer: raw asyncpg queries, the pool, migrations and the embedded PostgreSQL."""
