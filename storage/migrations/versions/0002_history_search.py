"""history search: free-text index and indexes for the history filters

SQLite gets an FTS5 table with the trigram tokenizer over the request's text
fields. It is an external-content table: it keeps only the index and reads text
from revocation_request by rowid, and triggers keep it in step with every insert,
delete and update of those fields. SQLite keeps rowids across VACUUM in practice
but does not promise it for a table without an INTEGER PRIMARY KEY; after a VACUUM,
or after any migration that rebuilds revocation_request (batch mode copies the
table and drops its triggers), recreate the triggers and run
``INSERT INTO revocation_request_fts(revocation_request_fts) VALUES('rebuild')``.

PostgreSQL gets a pg_trgm GIN index over the same fields joined into one string;
queries must use exactly that expression (storage.search.PG_SEARCH_TEXT).

Both get b-tree indexes that serve each filter newest first.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A copy, frozen with this migration, of storage.search.TEXT_COLUMNS.
TEXT_COLUMNS = (
    "id",
    "asset_id",
    "product_key",
    "device_key",
    "cert_sn",
    "requester_id",
    "approver_id",
    "decided_by",
    "justification",
    "decision_note",
    "enos_request_id",
    "enos_msg",
    "outcome_detail",
)
FTS = "revocation_request_fts"

# Each filter's column, then the result order, so a page is read off the index in order.
NEWEST_FIRST = {
    "ix_request_newest": ["created_at", "id"],
    "ix_request_product_newest": ["product_key", "created_at", "id"],
    "ix_request_requester_newest": ["requester_id", "created_at", "id"],
    "ix_request_approver_newest": ["approver_id", "created_at", "id"],
    "ix_request_decider_newest": ["decided_by", "status", "created_at", "id"],
    "ix_request_status_newest": ["status", "created_at", "id"],
}

PG_SEARCH_TEXT = (
    "("
    + " || E'\\n' || ".join(
        "(cert_sn)::text" if name == "cert_sn" else f"coalesce({name}, '')" for name in TEXT_COLUMNS
    )
    + ")"
)


def upgrade() -> None:
    for name, columns in NEWEST_FIRST.items():
        op.create_index(name, "revocation_request", columns)
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _create_fts()
    elif dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            "CREATE INDEX ix_request_search_trgm ON revocation_request "
            f"USING gin ({PG_SEARCH_TEXT} gin_trgm_ops)"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for suffix in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS {FTS}_{suffix}")
        op.execute(f"DROP TABLE IF EXISTS {FTS}")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_request_search_trgm")
    for name in NEWEST_FIRST:
        op.drop_index(name, table_name="revocation_request")


def _create_fts() -> None:
    # Every name below is a constant of this module; nothing comes from outside.
    columns = ", ".join(TEXT_COLUMNS)
    new = ", ".join(f"new.{name}" for name in TEXT_COLUMNS)
    old = ", ".join(f"old.{name}" for name in TEXT_COLUMNS)
    op.execute(
        f"CREATE VIRTUAL TABLE {FTS} USING fts5({columns}, "
        "content='revocation_request', content_rowid='rowid', tokenize='trigram')"
    )
    op.execute(
        f"CREATE TRIGGER {FTS}_ai AFTER INSERT ON revocation_request BEGIN "  # noqa: S608
        f"INSERT INTO {FTS}(rowid, {columns}) VALUES (new.rowid, {new}); END"
    )
    op.execute(
        f"CREATE TRIGGER {FTS}_ad AFTER DELETE ON revocation_request BEGIN "  # noqa: S608
        f"INSERT INTO {FTS}({FTS}, rowid, {columns}) VALUES ('delete', old.rowid, {old}); END"
    )
    # Only a change to an indexed field touches the index; lease renewals do not.
    op.execute(
        f"CREATE TRIGGER {FTS}_au AFTER UPDATE OF {columns} ON revocation_request BEGIN "  # noqa: S608
        f"INSERT INTO {FTS}({FTS}, rowid, {columns}) VALUES ('delete', old.rowid, {old}); "
        f"INSERT INTO {FTS}(rowid, {columns}) VALUES (new.rowid, {new}); END"
    )
    op.execute(f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')")  # noqa: S608
