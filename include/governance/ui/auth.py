"""Who may see the Governance page: the Airflow API server's own users.

Airflow 3 mounts a plugin's FastAPI app with `app.mount()`, so none of the core API's
route dependencies reach it: its routes are public unless the plugin authenticates them.
The API server does run `JWTRefreshMiddleware` on every request, mounted apps included,
and it leaves the user of a valid `_token` cookie on `request.state`; Airflow's own
`get_user` dependency reads that (or an `Authorization: Bearer` token). The user must then
be allowed the custom view "Governance" by the configured auth manager
(`is_authorized_custom_view`, the hook auth managers offer for views defined by plugins:
the simple auth manager allows viewers and above, FAB checks the resource's permission).

Airflow's security module is imported on the first request, not with the plugin: it pulls
in the API server's models and would make every Airflow process that loads plugins slower.
"""

from __future__ import annotations

from fastapi import HTTPException, Request, status
from fastapi.security import HTTPBearer

RESOURCE = "Governance"
"""The custom view name the auth manager is asked about."""

_bearer = HTTPBearer(auto_error=False)


class LoginRequired(Exception):
    """An anonymous browser asked for a page: it is sent to Airflow's login."""

    def __init__(self, login_url: str) -> None:
        super().__init__("login required")
        self.login_url = login_url


async def airflow_access(request: Request) -> None:
    """FastAPI dependency: the caller is an Airflow user allowed the Governance view;
    401 otherwise (a browser asking for HTML is redirected to the login page), 403 when
    the auth manager says no."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.core_api.security import get_user

    credentials = await _bearer(request)
    try:
        user = await get_user(request=request, _oauth_token=None, bearer_credentials=credentials)
    except HTTPException as exc:
        if exc.status_code in (status.HTTP_401_UNAUTHORIZED, status.HTTP_403_FORBIDDEN) and (
            _wants_html(request)
        ):
            raise LoginRequired(
                get_auth_manager().get_url_login(next_url=str(request.url))
            ) from None
        raise
    allowed = get_auth_manager().is_authorized_custom_view(
        method="GET", resource_name=RESOURCE, user=user
    )
    if not allowed:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Forbidden")


def _wants_html(request: Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("accept", "")
