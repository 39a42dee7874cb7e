"""A real SMTP server for the tests (aiosmtpd): each message it accepts is
written, decoded, as one JSON file in a folder the tests read.

    python3 tests/smtp_sink.py PORT FOLDER

prints "ready" once it listens and runs until killed. Exits 2 when aiosmtpd
is missing (pip install -r tests/requirements.txt).
"""

import email
import json
import os
import sys
import threading
import time
from email import policy

try:
    from aiosmtpd.controller import Controller
except ImportError:
    print("aiosmtpd is not installed", file=sys.stderr)
    sys.exit(2)


class Sink:
    def __init__(self, folder):
        self.folder = folder

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        part = message.get_body(preferencelist=("plain",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(message["from"]),
            "to": str(message["to"]),
            "subject": str(message["subject"]),
            "message_id": str(message["message-id"]),
            "body": part.get_content() if part is not None else "",
        }
        name = f"{time.time_ns()}-{os.getpid()}.json"
        temporary = os.path.join(self.folder, "." + name)
        with open(temporary, "w", encoding="utf-8") as out:
            json.dump(record, out)
        os.replace(temporary, os.path.join(self.folder, name))
        return "250 Message accepted for delivery"


def main():
    port, folder = int(sys.argv[1]), sys.argv[2]
    os.makedirs(folder, exist_ok=True)
    controller = Controller(Sink(folder), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
