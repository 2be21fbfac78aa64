"""The PyPI router and its error format (plain text, the status codes twine and pip expect)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response

from devflow.core.errors import DevflowError, Unauthenticated
from devflow.core.protocol import protocol_endpoint, protocol_route_class
from devflow.core.schemas import text_error_responses

FORMAT = "pypi"


def render_error(exc: DevflowError) -> Response:
    """Answer a domain error as PyPI does: plain text, 400 for what the API calls 422."""
    status = 400 if exc.status == 422 else exc.status  # noqa: PLR2004 - PyPI says 400
    headers = {}
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = 'Basic realm="DevFlow PyPI"'
    return PlainTextResponse(exc.message + "\n", status_code=status, headers=headers)


router = APIRouter(
    prefix="/pypi",
    tags=["registry: pypi"],
    route_class=protocol_route_class(render_error),
    responses=text_error_responses(),
)
endpoint = protocol_endpoint(render_error)
