#!/usr/bin/env python3
"""Do what a large mailbox provider does with an RFC 8058 one-click unsubscribe.

Usage: python tests/rfc8058_unsubscribe.py MESSAGE.eml

It reads the message's List-Unsubscribe and List-Unsubscribe-Post headers and,
if they offer one-click unsubscription, sends exactly the provider's request:
POST to the HTTPS (or HTTP) URL, Content-Type application/x-www-form-urlencoded,
body "List-Unsubscribe=One-Click", no cookies, no other credentials, no redirects
followed. Exits 0 on a 2xx answer, 1 otherwise (2 if the headers are missing).
"""

from __future__ import annotations

import re
import sys
import urllib.error
import urllib.request
from email import message_from_binary_file, policy


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # RFC 8058 §3.2: the POST must not be redirected to a GET


def main(path: str) -> int:
    with open(path, "rb") as handle:
        message = message_from_binary_file(handle, policy=policy.default)
    post = str(message.get("List-Unsubscribe-Post", "")).strip()
    if post != "List-Unsubscribe=One-Click":
        print(f"no one-click header (List-Unsubscribe-Post: {post!r})", file=sys.stderr)
        return 2
    urls = re.findall(r"<([^>]+)>", str(message.get("List-Unsubscribe", "")))
    web = [u for u in urls if u.startswith(("https://", "http://"))]
    if not web:
        print(f"no HTTP(S) URI in List-Unsubscribe: {urls}", file=sys.stderr)
        return 2
    request = urllib.request.Request(
        web[0],
        data=b"List-Unsubscribe=One-Click",
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "Mozilla/5.0 (compatible; one-click-unsubscribe test)",
        },
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    print(f"POST {web[0]} -> {status}")
    return 0 if 200 <= status < 300 else 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
