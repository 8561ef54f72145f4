"""The floor under the routing job, for ``bench/worker.py``: an rq job that makes the
same PostgreSQL round trips as routing one request, with bare psycopg and no logic.

The routing job sends, in one transaction: the connection check (pool pre-ping), the
read of the request with its rule set, seven inserts and updates (decision, case, its
events, notice, audit, the notice's outbox row, the request's status), the
coordination check, and the UPDATE marking its outbox row done; then COMMIT. That is
twelve round trips. This job sends twelve of the same kinds to a scratch table, so its
rate is what any implementation of the routing job could reach at best on this machine.

``one_write`` is the least any routing job must do, however it were written: one
insert and its COMMIT (a case that is not committed is not opened). In the forking
worker each child must also connect, as a connection cannot cross a fork.
"""

from __future__ import annotations

import json
import os

_connection = None
TABLE = "bench_floor"


def _conn():
    global _connection
    if _connection is None:
        import psycopg

        _connection = psycopg.connect(os.environ["DATABASE_URL"])
    return _connection


def create_table(database_url: str) -> None:
    import psycopg

    with psycopg.connect(database_url) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id serial PRIMARY KEY, n int, label text, "
                     "data jsonb, at timestamptz DEFAULT now())")


def same_round_trips(n: int) -> int:
    conn = _conn()
    with conn.cursor() as cur:
        cur.execute("SELECT 1")  # pre-ping
        cur.execute(f"SELECT id, n, label, data FROM {TABLE} WHERE id = %s FOR UPDATE", (n,))  # the request
        cur.fetchall()
        ids = []
        for kind in ("audit", "outbox", "decision", "case", "events", "notice"):
            cur.execute(f"INSERT INTO {TABLE} (n, label, data) VALUES (%s, %s, %s) RETURNING id",
                        (n, kind, json.dumps({"kind": kind, "n": n})))
            ids.append(cur.fetchone()[0])
        cur.execute(f"UPDATE {TABLE} SET label = 'routed' WHERE id = %s", (ids[3],))  # request status
        cur.execute(f"SELECT EXISTS (SELECT 1 FROM {TABLE} WHERE n = %s AND label = 'plan')", (n,))  # coordination
        cur.fetchone()
        cur.execute(f"UPDATE {TABLE} SET label = 'done' WHERE id = %s", (ids[1],))  # outbox row done
    conn.commit()
    return ids[0]


def one_write(n: int) -> int:
    conn = _conn()
    with conn.cursor() as cur:
        cur.execute(f"INSERT INTO {TABLE} (n, label) VALUES (%s, 'case') RETURNING id", (n,))
        new_id = cur.fetchone()[0]
    conn.commit()
    return new_id
