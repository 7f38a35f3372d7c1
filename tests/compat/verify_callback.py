"""Verifies callbacks Notify made with the Standard Webhooks reference library (PyPI `standardwebhooks`).

Reads JSON on stdin: {"callbacks": [{"secret": "whsec_...", "headers": {...}, "body": "...", "valid": true}]} and
checks each callback as a receiver would: `Webhook(secret).verify(body, headers)` must accept the ones marked valid
and refuse the others. Prints one line per callback; exits 1 if any came out otherwise.
"""

import json
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main() -> int:
    failed = 0
    for n, callback in enumerate(json.load(sys.stdin)["callbacks"]):
        try:
            Webhook(callback["secret"]).verify(callback["body"], callback["headers"])
            accepted = True
            reason = "verified"
        except WebhookVerificationError as e:
            accepted = False
            reason = str(e)
        ok = accepted == callback["valid"]
        failed += 0 if ok else 1
        print(f"{'ok' if ok else 'WRONG'} {n}: {reason} (expected {'valid' if callback['valid'] else 'refused'})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
