"""One INSERT that adds a row only when its unique key is free, and says whether it did."""

from __future__ import annotations

from django.db import connection, models


def insert_new(obj: models.Model) -> bool:
    """INSERT `obj` unless a unique constraint already holds its values (ON CONFLICT DO NOTHING);
    True, with its pk set, when the row was written.

    One statement where a read and then a write were two. Call it inside the caller's transaction.
    (PostgreSQL draws an id even when nothing is written: gaps in ids, as after any rollback.)"""
    meta = obj._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    quote = connection.ops.quote_name
    values = [f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields]
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"ON CONFLICT DO NOTHING RETURNING {quote(meta.pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    if row is None:
        return False
    obj.pk = row[0]
    obj._state.adding = False
    obj._state.db = connection.alias
    return True
