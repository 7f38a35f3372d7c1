"""The official notifications-python-client against the local stack: every public method the API serves.

Reads the functional-test fixtures' environment (`notify fixtures functional-tests`) and checks every response
field by field. Exits non-zero on the first mismatch; prints 'N passed, 0 failed' at the end.
"""
import io
import os
import re
import sys
import time
import uuid

import requests
from notifications_python_client import NotificationsAPIClient, prepare_upload
from notifications_python_client.errors import HTTPError

env = os.environ
base_url = env["NOTIFY_API_URL"]
# The keys as upstream's fixtures write them: API_KEY and INBOUND_SMS_QUERY_KEY are the service's test key,
# API_SENDING_KEY its live key; API_TEAM_KEY is ours, for the team-key rules.
test = NotificationsAPIClient(env["API_KEY"], base_url=base_url)
live = NotificationsAPIClient(env["API_SENDING_KEY"], base_url=base_url)
inbound = NotificationsAPIClient(env["INBOUND_SMS_QUERY_KEY"], base_url=base_url)
team = NotificationsAPIClient(env["API_TEAM_KEY"], base_url=base_url)
checks = 0

DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def check(condition, what):
    global checks
    if not condition:
        print(f"FAILED: {what}", file=sys.stderr)
        print(f"0 passed, 1 failed")
        sys.exit(1)
    checks += 1


def is_uuid(value):
    try:
        uuid.UUID(value)
        return True
    except (TypeError, ValueError):
        return False


def check_post_response(response, template_id, reference, content_keys):
    check(is_uuid(response["id"]), "id is a uuid")
    check(response["reference"] == reference, "reference echoed")
    check(set(response["content"]) == content_keys, f"content keys {sorted(response['content'])}")
    check(response["uri"] == f"{base_url}/v2/notifications/{response['id']}", "uri")
    check(response["template"]["id"] == template_id, "template id")
    check(isinstance(response["template"]["version"], int), "template version")
    check(response["template"]["uri"].endswith(f"/templates/{template_id}"), "template uri")
    check(response["scheduled_for"] is None, "scheduled_for null")


NOTIFICATION_KEYS = {
    "id", "reference", "email_address", "phone_number", "line_1", "line_2", "line_3", "line_4", "line_5", "line_6",
    "postcode", "type", "status", "template", "body", "subject", "created_at", "created_by_name", "sent_at",
    "completed_at", "scheduled_for", "postage", "one_click_unsubscribe_url", "is_cost_data_ready", "cost_in_pounds",
    "cost_details",
}


def check_notification(n, kind):
    expected = NOTIFICATION_KEYS | ({"estimated_delivery"} if kind == "letter" else set())
    check(set(n) == expected, f"notification keys differ: {sorted(set(n) ^ expected)}")
    check(n["type"] == kind, "type")
    check(DATETIME.match(n["created_at"]), "created_at format")
    check(n["template"]["uri"] == f"{base_url}/v2/template/{n['template']['id']}/version/{n['template']['version']}", "template uri")


# SMS
ref = f"python sms ref {uuid.uuid4()}"
sms = test.send_sms_notification(env["FUNCTIONAL_TEST_NUMBER"], env["SMS_TEMPLATE_ID"], {"name": "Python"}, ref)
check_post_response(sms, env["SMS_TEMPLATE_ID"], ref, {"body", "from_number"})
# The template has \r\n line endings; a text's body is normalised, as upstream's SMS rendering does.
check(sms["content"]["body"] == "Hello Python\n\nFunctional Tests make our world a better place", "sms body")
# Upstream's default sender is the inbound number, shown in international format.
check(sms["content"]["from_number"] == "44" + env["FUNCTIONAL_TESTS_SERVICE_INBOUND_NUMBER"][1:], "default sender: the inbound number")
sms2 = live.send_sms_notification(env["FUNCTIONAL_TEST_NUMBER"], env["SMS_TEMPLATE_ID"], {"name": "x"}, sms_sender_id=env["SMS_SENDER_ID"])
check(sms2["content"]["from_number"] == "func tests", "chosen sender")
got = test.get_notification_by_id(sms["id"])
check_notification(got, "sms")
check(got["phone_number"] == env["FUNCTIONAL_TEST_NUMBER"], "phone number as submitted")
check(got["body"] == sms["content"]["body"], "body read back")
check(got["reference"] == ref and got["status"] in ("created", "sending", "delivered"), "status")

# Email: the body keeps the template's \r\n in the 201 and when read back
email = test.send_email_notification(
    env["FUNCTIONAL_TEST_EMAIL"], env["EMAIL_TEMPLATE_ID"], {"name": "Python"}, "python-email-ref",
    email_reply_to_id=env["EMAIL_REPLY_TO_ID"], one_click_unsubscribe_url="https://example.gov.uk/unsubscribe?x=1",
)
check_post_response(email, env["EMAIL_TEMPLATE_ID"], "python-email-ref", {"from_email", "body", "subject", "one_click_unsubscribe_url"})
check(email["content"]["subject"] == "Functional Tests are good", "subject")
check(email["content"]["body"] == "Hello Python\r\n\r\nFunctional test help make our world a better place", "email body keeps \\r\\n")
check(email["content"]["from_email"] == "functional.tests@notifications.service.gov.uk", "from_email")
check(email["content"]["one_click_unsubscribe_url"] == "https://example.gov.uk/unsubscribe?x=1", "unsubscribe echoed")
check(email["sanitised_content"] == {}, "sanitised_content present")
got = test.get_notification_by_id(email["id"])
check_notification(got, "email")
check(got["email_address"] == env["FUNCTIONAL_TEST_EMAIL"] and got["cost_in_pounds"] == 0.0, "email read back")
check(got["body"] == email["content"]["body"], "GET body keeps \\r\\n")

# sanitise_content_for, upstream's example: the link target goes, brackets and parentheses are escaped
unsafe = "Anne Example, now [click this evil link](https://evil.link)"
sanitised = r"Anne Example, now \[click this evil link\]\(\)"
clean = test.send_email_notification(
    env["FUNCTIONAL_TEST_EMAIL"], env["EMAIL_TEMPLATE_ID"], {"name": unsafe}, sanitise_content_for=["name"],
)
check(clean["sanitised_content"] == {"name": {"unsanitised": unsafe, "sanitised": sanitised}}, "sanitised_content")
check(clean["content"]["body"] == f"Hello {sanitised}\r\n\r\nFunctional test help make our world a better place", "sanitised body")
check(test.get_notification_by_id(clean["id"])["body"] == clean["content"]["body"], "sanitised body read back")
name = str(uuid.uuid4())
dashed = test.send_email_notification(env["FUNCTIONAL_TEST_EMAIL"], env["EMAIL_TEMPLATE_ID"], {"name": name}, sanitise_content_for=["name"])
check(name.replace("-", "\\-") in dashed["content"]["body"], "hyphens escaped, as the client's own suite expects")

# Key types: a test key's notifications are test ones (listed to the test key only), a letter is accepted with
# the test key and the live key, refused with a team key
check(email["id"] in {n["id"] for n in test.get_all_notifications(template_type="email")["notifications"]}, "test key lists its own")
check(email["id"] not in {n["id"] for n in live.get_all_notifications(template_type="email")["notifications"]}, "test notifications hidden from the live key")
check(email["id"] not in {n["id"] for n in team.get_all_notifications(template_type="email")["notifications"]}, "test notifications hidden from the team key")
test_letter = test.send_letter_notification(env["LETTER_TEMPLATE_ID"], {"address_line_1": "Test Key", "address_line_2": "1 Test Street", "postcode": "SW1A 1AA"})
check(test_letter["content"]["body"] == "Hello Test Key", "letter accepted with the test key (API_KEY)")
try:
    team.send_letter_notification(env["LETTER_TEMPLATE_ID"], {"address_line_1": "Team", "address_line_2": "1 Test Street", "postcode": "SW1A 1AA"})
    check(False, "team key letter should be refused")
except HTTPError as e:
    check(e.status_code == 403 and e.message == [{"error": "BadRequestError", "message": "Cannot send letters with a team api key"}], "team key letter refused")

# Letters
address = {"address_line_1": "Python Client", "address_line_2": "1 Test Street", "postcode": "SW1A 1AA"}
letter = live.send_letter_notification(env["LETTER_TEMPLATE_ID"], address, "python-letter-ref")
check_post_response(letter, env["LETTER_TEMPLATE_ID"], "python-letter-ref", {"body", "subject"})
check(letter["content"]["body"] == "Hello Python Client" and letter["content"]["subject"] == "Main heading", "letter content")
got = live.get_notification_by_id(letter["id"])
check_notification(got, "letter")
check(got["line_1"] == "Python Client" and got["postcode"] == "SW1A 1AA" and got["status"] == "accepted", "letter read back")
# The stack renders the letter within moments: PDFNotReadyError until then, the PDF after.
rendered = None
for _ in range(40):
    try:
        rendered = live.get_pdf_for_letter(letter["id"]).read()
        break
    except HTTPError as e:
        check(e.status_code == 400 and e.message[0]["error"] == "PDFNotReadyError", "PDFNotReadyError while rendering")
        time.sleep(0.25)
check(rendered is not None and rendered.startswith(b"%PDF"), "templated letter rendered to a PDF")

# A real letter (clean A4, its address in the window, written by the fixtures): it waits for the virus scan, then
# the print checks read the address from it and it goes on like any letter.
with open(env["PRECOMPILED_LETTER_PDF"], "rb") as f:
    pdf = f.read()
pre = live.send_precompiled_letter_notification("python-precompiled", io.BytesIO(pdf), postage="first")
check(set(pre) == {"id", "reference", "postage"} and pre["postage"] == "first" and pre["reference"] == "python-precompiled", "precompiled response")
got = live.get_notification_by_id(pre["id"])
check(got["status"] in {"pending-virus-check", "accepted", "received"}, f"precompiled read back: {got['status']}")
deadline = time.monotonic() + 60
while got["status"] == "pending-virus-check":
    # Not scanned yet: no PDF. Once the scan passed the PDF is served even before the checks finish, so a PDF here
    # must already be the one uploaded.
    try:
        early = live.get_pdf_for_letter(pre["id"]).read()
        check(early == pdf, "PDF served once scanned is the one uploaded")
    except HTTPError as e:
        check(e.status_code == 400 and e.message[0]["error"] == "PDFNotReadyError", "PDFNotReadyError while pending virus check")
    check(time.monotonic() < deadline, "precompiled letter left pending-virus-check within 60 s")
    time.sleep(0.5)
    got = live.get_notification_by_id(pre["id"])
# Past the scan and the checks: created (or printed) is `accepted`, delivered `received`; never validation-failed.
check(got["status"] in {"accepted", "received"}, f"precompiled letter passed its scan and checks: {got['status']}")
check(
    (got["line_1"], got["line_2"], got["line_3"], got["postcode"]) == ("Ms A Smith", "1 High Street", "London", "SW1A 1AA"),
    f"address read from the PDF: {got['line_1']!r}, {got['postcode']!r}",
)
check(got["postage"] == "first", "postage kept")
check(live.get_pdf_for_letter(pre["id"]).read() == pdf, "PDF served back byte-for-byte")

# Errors come back in the v2 envelope
try:
    test.send_sms_notification("07700900501", str(uuid.uuid4()))
    check(False, "unknown template should fail")
except HTTPError as e:
    check(e.status_code == 400 and e.message == [{"error": "BadRequestError", "message": "Template not found"}], "error envelope")

# Listing: key type scoping, filters, paging links
listing = test.get_all_notifications(template_type="sms", reference=ref)
check([n["id"] for n in listing["notifications"]] == [sms["id"]], "filtered list")
check("older_than=" + sms["id"] in listing["links"]["next"], "links.next has older_than")
listing = test.get_all_notifications(status="accepted", include_jobs=True)
check(len(listing["notifications"]) >= 3, "accepted alias lists created/sending")
all_test = list(test.get_all_notifications_iterator())
check({sms["id"], email["id"], clean["id"]} <= {n["id"] for n in all_test}, "iterator pages through")
check(not {letter["id"], sms2["id"]} & {n["id"] for n in all_test}, "live-key notifications not listed to the test key")

# Templates
tpl = test.get_template(env["SMS_TEMPLATE_ID"])
check(set(tpl) == {"id", "type", "created_at", "updated_at", "created_by", "version", "body", "subject", "name",
                   "personalisation", "postage", "letter_contact_block"}, "template keys")
check(tpl["name"] == "Client Functional test sms template" and tpl["personalisation"] == {"name": {"required": True}}, "template")
v1 = test.get_template_version(env["SMS_TEMPLATE_ID"], 1)
check(v1["name"] == "Example text message template" and v1["version"] == 1, "template version 1")
letter_tpl = test.get_template(env["LETTER_TEMPLATE_ID"])
check(letter_tpl["letter_contact_block"].startswith("Government Digital Service"), "letter contact block")
templates = test.get_all_templates()["templates"]
check({t["id"] for t in templates} >= {env["SMS_TEMPLATE_ID"], env["EMAIL_TEMPLATE_ID"], env["LETTER_TEMPLATE_ID"]}, "all templates")
check([t["type"] for t in test.get_all_templates("email")["templates"]] == ["email"], "templates by type")
email_tpl = test.get_template(env["EMAIL_TEMPLATE_ID"])
check(email_tpl["body"] == "Hello ((name))\r\n\r\nFunctional test help make our world a better place", "template body keeps \\r\\n")
preview = test.post_template_preview(env["EMAIL_TEMPLATE_ID"], {"name": "Preview"})
check(set(preview) == {"id", "type", "version", "body", "subject", "html", "postage"}, "preview keys")
check("Hello Preview" in preview["html"] and preview["subject"] == "Functional Tests are good", "preview rendered")
check(preview["body"] == "Hello Preview\r\n\r\nFunctional test help make our world a better place", "preview body keeps \\r\\n")

# Received texts
texts = inbound.get_received_texts()
check(len(texts["received_text_messages"]) >= 3, "received texts")
text = texts["received_text_messages"][0]
check(set(text) == {"id", "created_at", "service_id", "notify_number", "user_number", "content"}, "received text keys")
check(len(list(inbound.get_received_texts_iterator())) == len(texts["received_text_messages"]), "received texts iterator")

# Files by email, as the client's own integration suite sends them: a PDF and a CSV through prepare_upload, the
# link read from the notification's body, the page fetched, the address confirmed where asked, the file downloaded
LINK = re.compile(r"(https?://\S+/d/[0-9a-f-]{36}/[0-9a-f-]{36}\?key=[A-Za-z0-9_-]+)")
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
CSV = b"name,reference\nPython,1\nClient,2\n"
for client, data, filename, confirm, content_type in [
    (live, PDF, "python.pdf", False, "application/pdf"),
    (test, CSV, "python.csv", None, "text/csv"),
]:
    sent = client.send_email_notification(
        env["FUNCTIONAL_TEST_EMAIL"], env["EMAIL_TEMPLATE_ID"],
        {"name": prepare_upload(io.BytesIO(data), filename=filename, confirm_email_before_download=confirm)},
    )
    found = LINK.search(client.get_notification_by_id(sent["id"])["body"])
    check(found is not None, f"{filename}: a download link in the email")
    link = found.group(1)
    check(link in sent["content"]["body"], f"{filename}: the same link in the 201")
    browser = requests.Session()
    page = browser.get(link)
    check(page.status_code == 200 and page.headers["Referrer-Policy"] == "no-referrer", f"{filename}: the page")
    download = link.replace("?key=", "/download?key=")
    if confirm is False:
        check(filename in page.text, f"{filename}: the page names the file")
    else:
        check("Confirm your email address" in page.text and filename not in page.text, f"{filename}: address asked first")
        wrong = browser.post(link, data={"email_address": "someone.else@example.com"})
        check(wrong.status_code == 400 and "This is not the email address the file was sent to." in wrong.text, f"{filename}: wrong address")
        check(browser.get(download, allow_redirects=False).status_code == 303, f"{filename}: no download before the address")
        right = browser.post(link, data={"email_address": " " + env["FUNCTIONAL_TEST_EMAIL"].upper() + " "})
        check(right.status_code == 200 and filename in right.text, f"{filename}: right address")
    got = browser.get(download)
    check(got.status_code == 200 and got.content == data, f"{filename}: the bytes sent")
    check(got.headers["Content-Type"] == content_type and f'filename="{filename}"' in got.headers["Content-Disposition"], f"{filename}: type and name")
    check(requests.get(link.split("?key=")[0] + "?key=" + "A" * 43).status_code == 404, f"{filename}: a wrong key gets 404")

print(f"{checks} passed, 0 failed")
