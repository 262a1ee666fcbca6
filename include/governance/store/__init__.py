"""The governance store: runs, input files, decision summaries, manifests and a
tamper-evident audit trail (SQLAlchemy 2 models, Alembic migrations)."""
