"""Model instances from hand-written SQL, for the queries run on every request or job.

A RawQuerySet resolves its columns and the model's init order again for every query; on the
hottest paths (the claim, the job's GET, the token lookup) that cost more than the query. These
read rows whose leading columns are the model's concrete fields in order (`model_columns`);
columns after them are set as attributes, named by `extra`.
"""

from django.db import connection


def model_columns(model, table: str = "") -> str:
    """The model's concrete columns, in order, for a SELECT or RETURNING list."""
    prefix = f"{table}." if table else ""
    return ", ".join(
        f"{prefix}{connection.ops.quote_name(field.column)}" for field in model._meta.concrete_fields
    )


def instance_from_row(model, row, extra: tuple[str, ...] = ()):
    fields = model._meta.concrete_fields
    values = [
        field.from_db_value(value, None, connection) if hasattr(field, "from_db_value") else value
        for field, value in zip(fields, row[: len(fields)], strict=True)
    ]
    instance = model.from_db(connection.alias, [field.attname for field in fields], values)
    for name, value in zip(extra, row[len(fields) :], strict=True):
        setattr(instance, name, value)
    return instance


def fetch_one(model, sql: str, params, extra: tuple[str, ...] = ()):
    """The first row of `sql` as a `model` instance, or None."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else instance_from_row(model, row, extra)
