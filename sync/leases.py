"""Named leases in the database: one sync run per company at a time, across every worker."""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid

from django.db import IntegrityError, transaction
from django.utils import timezone

from connector.models import Lease


def new_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire(key: str, *, holder: str, seconds: float) -> bool:
    """Take the lease if free or expired; True when `holder` now has it."""
    now = timezone.now()
    until = now + dt.timedelta(seconds=seconds)
    taken = Lease.objects.filter(key=key).filter(expires_at__lt=now).update(holder=holder, expires_at=until)
    if taken:
        return True
    try:
        with transaction.atomic():
            Lease.objects.create(key=key, holder=holder, expires_at=until)
    except IntegrityError:
        return False
    return True


def renew(key: str, *, holder: str, seconds: float) -> bool:
    until = timezone.now() + dt.timedelta(seconds=seconds)
    return bool(Lease.objects.filter(key=key, holder=holder).update(expires_at=until))


def release(key: str, *, holder: str) -> None:
    Lease.objects.filter(key=key, holder=holder).delete()
