"""The Analytics Ops page: a small FastAPI app that Airflow 3's API server mounts (`plugin`).

Airflow 3 replaced Flask AppBuilder views with plugin FastAPI apps (`AirflowPlugin.fastapi_apps`,
mounted under their `url_prefix` by the API server) plus a navigation entry
(`AirflowPlugin.external_views`) that shows the app's page inside the UI. The app runs in the API
server process, which owns Airflow's metadata DB: it reads the suite's DAG runs through the same
session dependency the REST API uses (no HTTP round trip to itself, no API token to manage), and
asks the auth manager which DAGs the logged-in user may see, so the page never shows more than the
DAG list would. Routes:

- `GET {prefix}/`              the page (HTML)
- `GET {prefix}/api/overview`  the same facts as JSON
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations, which name local types.

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlparse

from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse, JSONResponse

from analytics_ops.core.config import OPS_PAGE_PATH

URL_PREFIX = OPS_PAGE_PATH
PAGE_TITLE = "Analytics Ops"
TEMPLATE = Path(__file__).with_name("ops_page.html")


def ui_base() -> str:
    """The path the Airflow UI is served under (empty at the root), from `[api] base_url`."""
    from airflow.configuration import conf

    base = conf.get("api", "base_url", fallback="") or ""
    return urlparse(base).path.rstrip("/")


def overview_for(user: Any, session: Any) -> Any:
    from airflow.api_fastapi.app import get_auth_manager

    from analytics_ops.ops_page.overview import gather

    allowed = get_auth_manager().get_authorized_dag_ids(user=user, method="GET", session=session)
    return gather(session, allowed_dag_ids=allowed, ui_base=ui_base())


def when(moment: Any) -> str:
    """A moment in UTC, to the minute (the databases may hand it over in their session's time zone)."""
    if isinstance(moment, datetime):
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return moment or ""


def _render(overview: Any) -> str:
    import jinja2

    from analytics_ops.ops_page.overview import human_age

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["age"] = human_age
    env.filters["when"] = when
    return env.from_string(TEMPLATE.read_text(encoding="utf-8")).render(o=overview, title=PAGE_TITLE)


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def create_app() -> FastAPI:
    # The REST API's own dependencies: the user from the JWT (Authorization header, or the UI's
    # `_token` cookie, which the page's frame sends), and a metadata-DB session per request.
    from airflow.api_fastapi.common.db.common import SessionDep
    from airflow.api_fastapi.core_api.security import get_user

    app = FastAPI(title=PAGE_TITLE, description="The analytics-ops suite at a glance", docs_url=None, redoc_url=None)
    User = Annotated[Any, Depends(get_user)]

    @app.get("/", response_class=HTMLResponse)
    def ops_page(user: User, session: SessionDep) -> HTMLResponse:
        return HTMLResponse(_render(overview_for(user, session)), headers={"Cache-Control": "no-store"})

    @app.get("/api/overview")
    def ops_overview(user: User, session: SessionDep) -> JSONResponse:
        return JSONResponse(_json_ready(overview_for(user, session).as_dict()), headers={"Cache-Control": "no-store"})

    return app
