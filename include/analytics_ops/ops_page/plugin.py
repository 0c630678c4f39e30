"""The "Analytics Ops" page in the Airflow UI (Airflow 3 plugin), registered by the package itself.

The distribution declares it under Airflow's `airflow.plugins` entry point (pyproject.toml), so an
Airflow with the package installed loads it without a plugins folder; nothing else registers it (a
second registration under the same name would be an Airflow plugin import error).

`fastapi_apps`: the API server mounts the page's app (`app.py`) under /analytics-ops.
`external_views`: a "Analytics Ops" entry in the UI's Browse menu that shows that page inside the
UI, at /plugin/analytics-ops.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from analytics_ops.ops_page.app import PAGE_TITLE, URL_PREFIX, create_app


class AnalyticsOpsPlugin(AirflowPlugin):
    name = "analytics_ops"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": PAGE_TITLE}]
    external_views = [
        {
            "name": PAGE_TITLE,
            "href": f"{URL_PREFIX}/",
            "url_route": "analytics-ops",
            "destination": "nav",
            "category": "browse",
        }
    ]
