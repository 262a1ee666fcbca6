"""The Governance page of the Airflow UI: a FastAPI app over the governance store (the
Airflow plugin in `plugins/` only registers it)."""
