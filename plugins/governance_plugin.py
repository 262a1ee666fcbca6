"""The Governance page in the Airflow UI.

Registers the Governance app (`governance.ui.app`) under `/governance` on the Airflow API
server and a "Governance" entry in the UI's navigation that shows it. Every page and
download needs an Airflow login allowed the "Governance" view (`governance.ui.auth`); the
page reads the store and outputs the governance tasks use (`governance.ui.settings`).
Importing this module loads FastAPI and nothing heavy: the store is read per request.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from governance.ui.app import create_app
from governance.ui.auth import airflow_access
from governance.ui.settings import airflow_output_root, airflow_store_url


class GovernancePlugin(AirflowPlugin):
    name = "governance"
    # Class attributes are how Airflow reads a plugin (hence RUF012 is silenced).
    fastapi_apps = [  # noqa: RUF012
        {
            "app": create_app(
                authorize=airflow_access,
                store_url=airflow_store_url,
                output_root=airflow_output_root,
            ),
            "url_prefix": "/governance",
            "name": "Governance",
        }
    ]
    external_views = [  # noqa: RUF012
        {
            "name": "Governance",
            # Relative: resolved against the UI's base URL, so a root path prefix works.
            "href": "governance/",
            "icon": "governance/icon.svg",
            "url_route": "governance",
            "destination": "nav",
            "nav_top_level": True,
        }
    ]
