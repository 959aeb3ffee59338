"""Storage: the database (SQLite by default), dedup, clusters, full-text search, source health.

Knows the crawler's records; knows nothing of rules or delivery.
"""
