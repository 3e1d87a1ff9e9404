"""``GET /metrics``: the app's Prometheus series in the text exposition format.

Served only when the setting ``metrics_enabled`` is on (the default). The
series hold counts, timings and the model's hash, never question text; still,
behind a proxy, allow the path only to the Prometheus host (deploy/).
"""

from __future__ import annotations

from litestar import Controller, get
from litestar.response import Response

from assistant.observability.metrics import CONTENT_TYPE, Metrics


class MetricsController(Controller):
    include_in_schema = False

    @get("/metrics", sync_to_thread=True, summary="Prometheus metrics")
    def metrics(self, metrics: Metrics) -> Response[bytes]:
        # sync: the scrape-time gauges read SQLite and the quarantine folder
        return Response(metrics.render(), media_type=CONTENT_TYPE)
