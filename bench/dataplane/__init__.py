"""The data-plane benchmark: each production backend beside its PostgreSQL counterpart."""
