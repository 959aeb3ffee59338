"""Collection: fetch feeds and pages politely, parse them, and hand on ``ArticleData``.

Knows nothing of the database or of alerts.
"""
