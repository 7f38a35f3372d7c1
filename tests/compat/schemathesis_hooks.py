"""Schemathesis hooks for the test command's fuzzing of the v2 API (see infra/scripts/test).

Every generated request gets a freshly signed token, as the official clients make one per request: `iss` is the
functional-test service's id and the HS256 key the test API key's secret (the last 36 characters of `API_KEY`,
written by `notify fixtures functional-tests --env-file`). Schemathesis's own authentication is not used, so the
fuzzing reaches the handlers rather than stopping at the token check.

Random UUIDs and phone numbers would rarely get past the first checks, so about two cases in three are pointed at
the fixtures' real templates, notifications and recipients; the rest of the request stays as generated (fuzzed
personalisation, references, schedules, query strings), which is what reaches the renderer and the database.
"""
import os
import random

import schemathesis
from notifications_python_client import NotificationsAPIClient
from notifications_python_client.authentication import create_jwt_token

SERVICE_ID = os.environ["SERVICE_ID"]
SECRET = os.environ["API_KEY"][-36:]
TEMPLATES = {
    "sms": os.environ["SMS_TEMPLATE_ID"],
    "email": os.environ["EMAIL_TEMPLATE_ID"],
    "letter": os.environ["LETTER_TEMPLATE_ID"],
}
RECIPIENTS = {
    "sms": ("phone_number", os.environ["FUNCTIONAL_TEST_NUMBER"]),
    "email": ("email_address", os.environ["FUNCTIONAL_TEST_EMAIL"]),
}
ADDRESS = {"address_line_1": "Ms A Person", "address_line_2": "1 High Street", "postcode": "SW1A 1AA"}

_client = NotificationsAPIClient(os.environ["API_KEY"], base_url=os.environ["NOTIFY_API_URL"])
NOTIFICATIONS = [
    _client.send_sms_notification(RECIPIENTS["sms"][1], TEMPLATES["sms"], {"name": "fuzz"})["id"],
    _client.send_letter_notification(TEMPLATES["letter"], dict(ADDRESS, name="fuzz"))["id"],
]


def _channel(path):
    for channel in TEMPLATES:
        if path.endswith("/" + channel):
            return channel
    return None


@schemathesis.hook
def before_call(context, case, **kwargs):
    # Seeded by the case itself, so a run with a fixed --seed makes the same requests.
    rnd = random.Random(repr((case.path, case.path_parameters, case.query, case.body)))
    path = case.operation.path
    params = case.path_parameters
    if params and rnd.random() < 0.7:
        if "notification_id" in params:
            params["notification_id"] = rnd.choice(NOTIFICATIONS)
        elif "id" in params:
            params["id"] = rnd.choice(list(TEMPLATES.values()))
    body = case.body
    if isinstance(body, dict) and case.method.upper() == "POST" and path.startswith("/v2/notifications"):
        channel = _channel(path)
        if rnd.random() < 0.7:
            body["template_id"] = TEMPLATES[channel] if channel else rnd.choice(list(TEMPLATES.values()))
        if channel in RECIPIENTS and rnd.random() < 0.6:
            field, value = RECIPIENTS[channel]
            body[field] = value
        if channel and rnd.random() < 0.6:
            # The fixtures' templates want `name` (and a letter its address): given the first generated value, so
            # the values themselves are still fuzzed.
            generated = body.get("personalisation")
            generated = generated if isinstance(generated, dict) else {}
            personalisation = dict(generated)
            personalisation.setdefault("name", next(iter(generated.values()), "fuzz"))
            if channel == "letter":
                personalisation.update(ADDRESS)
                strings = [v for v in generated.values() if isinstance(v, str)]
                if strings and rnd.random() < 0.5:
                    personalisation["address_line_2"] = strings[0]
            body["personalisation"] = personalisation
    headers = dict(case.headers or {})
    headers["Authorization"] = f"Bearer {create_jwt_token(SECRET, SERVICE_ID)}"
    case.headers = headers
