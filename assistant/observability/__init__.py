"""Operators' view of the running assistant: Prometheus metrics and JSON logs.

- ``metrics.py``: the series, in one registry per app, and the scrape-time gauges;
- ``logging.py``: structlog JSON lines on stderr, stdlib and uvicorn included;
- ``requests.py``: the request-id / access-log / HTTP-metrics wrapper and
  ``observe_done``, the answering service's observer that feeds the answer series.
- ``readiness.py``: what ``GET /readyz`` checks (the index, the models, the model's worker).
"""

from assistant.observability.logging import configure_logging
from assistant.observability.metrics import Metrics
from assistant.observability.requests import AppObserver, RequestObservability, observe_done

__all__ = ["AppObserver", "Metrics", "RequestObservability", "configure_logging", "observe_done"]
