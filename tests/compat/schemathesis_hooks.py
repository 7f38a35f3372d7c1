"""Schemathesis hooks for the test command's fuzzing of the v2 API (see infra/scripts/test).

Every generated request gets a freshly signed token, as the official clients make one per request: `iss` is the
functional-test service's id and the HS256 key the test API key's secret (the last 36 characters of `API_KEY`,
written by `notify fixtures functional-tests --env-file`). Schemathesis's own authentication is not used, so the
fuzzing reaches the handlers rather than stopping at the token check.
"""
import os

import schemathesis
from notifications_python_client.authentication import create_jwt_token

SERVICE_ID = os.environ["SERVICE_ID"]
SECRET = os.environ["API_KEY"][-36:]


@schemathesis.hook
def before_call(context, case, **kwargs):
    headers = dict(case.headers or {})
    headers["Authorization"] = f"Bearer {create_jwt_token(SECRET, SERVICE_ID)}"
    case.headers = headers
