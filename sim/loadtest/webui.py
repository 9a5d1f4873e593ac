"""The "chatsim KPIs" tab of Locust's web UI: first response, in-session response and missed
chats per channel, live, next to Locust's own tabs.

Locust's web UI shows extra tabs listed in its template arguments (``extended_tabs`` and
``extended_tables``) and fills them from an ``extended_stats`` list in its ``/stats/requests``
answer, which it polls every couple of seconds. The tab's rows are the tally of
:mod:`sim.loadtest.live`; Locust's request statistics, its Aggregated row and its charts stay
HTTP only. The same rows are served as JSON at ``/chatsim/kpis`` for scripts.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, jsonify, request
from locust.env import Environment

from sim.loadtest.live import COLUMNS, LiveKpis

TAB = "chatsim-kpis"
"""The tab's key in Locust's web UI."""


def show_live_kpis(environment: Environment, live: LiveKpis) -> None:
    """Add the tab to ``environment``'s web UI (nothing without one: headless runs)."""
    web_ui = environment.web_ui
    if web_ui is None or web_ui.app is None:
        return
    web_ui.template_args["extended_tabs"] = [{"title": "chatsim KPIs", "key": TAB}]
    web_ui.template_args["extended_tables"] = [
        {"key": TAB, "structure": [{"key": key, "title": title} for key, title in COLUMNS]}
    ]
    app: Flask = web_ui.app

    def _with_kpis(response: Response) -> Response:
        if request.path != "/stats/requests" or response.mimetype != "application/json":
            return response
        data: dict[str, Any] = json.loads(response.get_data())
        data["extended_stats"] = [{"key": TAB, "data": live.rows()}]
        response.set_data(json.dumps(data))
        return response

    def _kpis() -> Response:
        return jsonify(live.rows())

    app.after_request(_with_kpis)
    app.add_url_rule("/chatsim/kpis", "chatsim_kpis", _kpis)
