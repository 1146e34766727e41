"""Rows of the database coordination backend: leases and rate-limit events (no Redis)."""

from __future__ import annotations

from django.db import models


class Lease(models.Model):
    """A named lease held by one worker until it expires (run leases, write slots)."""

    key = models.CharField(max_length=200, unique=True)
    holder = models.CharField(max_length=200)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.key


class ThrottleEvent(models.Model):
    """One request sent under a rate limit, when no Redis is configured."""

    key = models.CharField(max_length=200)
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["key", "at"])]

    def __str__(self) -> str:
        return f"{self.key} at {self.at:%H:%M:%S.%f}"
