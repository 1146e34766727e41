"""Plain INSERTs for the hot path: no model instances saved, no per-row SQL compiling.

`insert_rows` writes many rows in one `executemany` (a report's expenses, an entry's lines, audit
events); `insert_new` writes one row only when its unique key is free (`ON CONFLICT DO NOTHING`)
and says whether it did. Both build their statement with `_insert_sql`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, cast

from django.db import connection, models

# Fields whose Python value the database driver cannot take as it is (JSON, dates, times).
_PREPARED = frozenset({"JSONField", "DateField", "DateTimeField", "DecimalField", "TimeField"})


def _insert_sql(model: type[models.Model], fields: Sequence[models.Field[Any, Any]]) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    return f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608


def insert_rows(model: type[models.Model], names: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
    """INSERT `rows` (values in the order of the field `names`; a foreign key as its id) into
    `model`'s table in one statement. Returns how many rows there were."""
    if not rows:
        return 0
    sql, preparers = _plan(model, tuple(names))
    params = []
    for row in rows:
        values = list(row)  # lists, not tuples: one flat list of values per row
        for i, prepare in preparers:
            values[i] = prepare(values[i], connection)
        params.append(values)
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
    return len(params)


@functools.cache
def _plan(
    model: type[models.Model], names: tuple[str, ...]
) -> tuple[str, list[tuple[int, Callable[..., Any]]]]:
    """The INSERT for these fields, and which values need the field to prepare them."""
    fields = [cast("models.Field[Any, Any]", model._meta.get_field(name)) for name in names]
    preparers: list[tuple[int, Callable[..., Any]]] = [
        (i, field.get_db_prep_save)
        for i, field in enumerate(fields)
        if field.get_internal_type() in _PREPARED
    ]
    return _insert_sql(model, fields), preparers


def insert_new(obj: models.Model) -> bool:
    """INSERT `obj` unless a unique constraint already holds its values (ON CONFLICT DO NOTHING);
    True, with its pk set, when the row was written.

    One statement where a read and then a write were two. Call it inside the caller's transaction.
    (PostgreSQL draws an id even when nothing is written: gaps in ids, as after any rollback.)"""
    meta = obj._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields]
    returning = connection.ops.quote_name(meta.pk.column)
    sql = f"{_insert_sql(type(obj), fields)} ON CONFLICT DO NOTHING RETURNING {returning}"
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    if row is None:
        return False
    obj.pk = row[0]
    obj._state.adding = False
    obj._state.db = connection.alias
    return True
