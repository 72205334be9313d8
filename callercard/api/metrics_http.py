"""``GET /metrics``: this API process's Prometheus metrics (lookup latency and budget misses, card events of the
HTTP feed); each replica is scraped on its own."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from callercard import metrics

router = APIRouter(tags=["status"])


@router.get("/metrics", summary="Prometheus metrics of this API process", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def prometheus_metrics() -> Response:
    return Response(metrics.latest(), media_type=CONTENT_TYPE_LATEST)
