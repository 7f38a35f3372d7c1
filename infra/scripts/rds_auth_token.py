"""The known answers for shared/db/src/rds_auth.rs: botocore's own RDS IAM token for fixed credentials, time and proxy.

Run with the project's venv (botocore comes with moto):
    .venv/bin/python infra/scripts/rds_auth_token.py > shared/db/src/rds_auth_token.expected
    .venv/bin/python infra/scripts/rds_auth_token.py session > shared/db/src/rds_auth_token_session.expected
"""
import datetime
import sys
from unittest import mock

import botocore.auth
import botocore.session

FIXED = datetime.datetime(2026, 11, 27, 10, 0, 0)

session = botocore.session.get_session()
with_session = len(sys.argv) > 1 and sys.argv[1] == "session"
session.set_credentials(
    "ASIAEXAMPLE" if with_session else "AKIDEXAMPLE",
    "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "session-token/with+special=chars" if with_session else None,
)
client = session.create_client("rds", region_name="eu-west-2")


class FixedClock(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return FIXED

    @classmethod
    def now(cls, tz=None):
        return FIXED.replace(tzinfo=tz) if tz else FIXED


with mock.patch.object(botocore.auth.datetime, "datetime", FixedClock):
    print(
        client.generate_db_auth_token(
            DBHostname="notify-proxy.proxy-abcdefghijkl.eu-west-2.rds.amazonaws.com",
            Port=5432,
            DBUsername="notify_app",
        )
    )
