"""Run by GNU Mailman's own Python (its virtual environment), never the project's.

    build/peers/mailman/venv/bin/python bench/peers/mailman_populate.py CFG LIST N

Creates the list with full personalisation (one message per member, the member's
own To header) and N members, as ``mailman addmembers`` would but through the same
API in one process: a welcome message off, every address verified, the poster
accepted. Commits every 1,000 members.
"""

from __future__ import annotations

import sys
import time


def main(cfg: str, fqdn: str, n: int) -> None:
    from mailman.core.initialize import initialize

    initialize(cfg)
    from mailman.app.lifecycle import create_list
    from mailman.config import config
    from mailman.interfaces.action import Action
    from mailman.interfaces.archiver import ArchivePolicy
    from mailman.interfaces.domain import IDomainManager
    from mailman.interfaces.listmanager import IListManager
    from mailman.interfaces.mailinglist import Personalization
    from mailman.interfaces.member import MemberRole
    from mailman.interfaces.usermanager import IUserManager
    from mailman.utilities.datetime import now
    from zope.component import getUtility

    started = time.monotonic()
    domain = fqdn.split("@", 1)[1]
    if getUtility(IDomainManager).get(domain) is None:
        getUtility(IDomainManager).add(domain)
    if getUtility(IListManager).get(fqdn) is not None:
        sys.exit(f"{fqdn} exists already: start from an empty var directory")
    mlist = create_list(fqdn)
    mlist.personalize = Personalization.full
    mlist.send_welcome_message = False
    mlist.send_goodbye_message = False
    mlist.default_nonmember_action = Action.accept
    mlist.archive_policy = ArchivePolicy.never
    config.db.commit()
    users = getUtility(IUserManager)
    for i in range(1, n + 1):
        address = users.create_address(f"journalist{i}@example.net", f"Journalist {i}")
        address.verified_on = now()
        mlist.subscribe(address, MemberRole.member, send_welcome_message=False)
        if i % 1000 == 0:
            config.db.commit()
    config.db.commit()
    print(f"{n} members in {time.monotonic() - started:.1f}s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
