"""A paginator for very large tables: never runs a full COUNT(*)."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

COUNT_CAP = 10_000


class CappedCountPaginator(Paginator):  # type: ignore[type-arg]
    """Counts at most COUNT_CAP + 1 rows; past that, PostgreSQL's row estimate (or the cap)."""

    @cached_property
    def count(self) -> int:
        queryset: Any = self.object_list
        limited = queryset.order_by()[: COUNT_CAP + 1].count()
        if limited <= COUNT_CAP:
            return int(limited)
        return max(COUNT_CAP + 1, self._estimate(queryset))

    @staticmethod
    def _estimate(queryset: Any) -> int:
        connection = connections[queryset.db]
        if connection.vendor != "postgresql" or queryset.query.where:
            return COUNT_CAP + 1
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE relname = %s",
                [queryset.model._meta.db_table],
            )
            row = cursor.fetchone()
        return int(row[0]) if row and row[0] and row[0] > 0 else COUNT_CAP + 1
