#!/usr/bin/env python3
"""What the store writes per chat message, and what it would write if it wrote less.

Replays the writes the Baton store makes for each message (src/storage/sqlite_store.cpp:
one transaction per group-commit batch; per message a SAVEPOINT, the conversation
upserted with a new updated_at / last_seq / last_message, and the event inserted), on
the schema of a database that `baton serve` created, in WAL mode with
synchronous=FULL, and counts the WAL frames (4 KiB pages) each message costs. Then the
same with the changes docs/benchmarks.md recommends:

  today           every message upserts its conversation (as the server does)
  coalesced       the conversation is upserted once per batch (the last snapshot wins)
  one_index       as today, with only conversations_by_updated among the four
                  (..., updated_at, id) indexes
  events_only     the conversation row is not written per message at all

Usage: bench/storage/write_amplification.py build/bench/relay/server/data/baton.db
(any database made by `baton serve`; only its schema is read). Uses Python's sqlite3,
which is the same libsqlite3 as the server's on Debian.
"""
import os
import random
import sqlite3
import sys
import tempfile
import time

CONVERSATIONS = 100
MESSAGES = 3000
BATCHES = [1, 8, 64]
PAGE = 4096


def schema_of(path):
    src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    rows = src.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'"
        " ORDER BY CASE type WHEN 'table' THEN 0 ELSE 1 END").fetchall()
    version = src.execute("PRAGMA user_version").fetchone()[0]
    src.close()
    return rows, version


def make_db(folder, rows, drop_indexes):
    path = os.path.join(folder, "probe.db")
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA wal_autocheckpoint=0")  # the WAL only grows: its size counts the frames
    for kind, name, sql in rows:
        if kind == "index" and name in drop_indexes:
            continue
        db.execute(sql)
    return db, path


def conversation_row(cid, seq, now, text):
    return (cid, "site0", "Q0", "active", "agent0", "Visitor " + cid[-4:], "", "", "baton-loadgen", "",
            "h" * 43, now - 60000, now - 60000, now, 0, "", seq, 0, text, "", 0)


UPSERT = None
INSERT_EVENT = ("INSERT INTO events (conversation_id, seq, kind, author_kind, author_id, author_name, client_id,"
                " text, at) VALUES (?, ?, 'message', ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (conversation_id, author_kind, author_id, client_id) WHERE client_id <> ''"
                " DO NOTHING")


def upsert_sql(columns):
    cols = ", ".join(columns)
    marks = ", ".join("?" for _ in columns)
    sets = ", ".join(f"{c} = excluded.{c}" for c in columns if c != "id")
    return f"INSERT INTO conversations ({cols}) VALUES ({marks}) ON CONFLICT (id) DO UPDATE SET {sets}"


COLUMNS = ["id", "site", "queue", "state", "agent", "visitor_name", "visitor_email", "visitor_page",
           "visitor_user_agent", "visitor_origin", "visitor_token_hash", "created_at", "waiting_since",
           "updated_at", "closed_at", "close_reason", "last_seq", "offline", "last_message", "consultant",
           "consultant_joined"]


def wal_frames(path):
    try:
        size = os.path.getsize(path + "-wal")
    except FileNotFoundError:
        return 0
    return max(0, (size - 32) // (PAGE + 24))


def run(rows, variant, batch):
    drop = set()
    if variant == "one_index":
        drop = {"conversations_by_state", "conversations_by_agent", "conversations_by_queue"}
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as folder:
        db, path = make_db(folder, rows, drop)
        upsert = upsert_sql(COLUMNS)
        ids = ["c%024x" % random.getrandbits(96) for _ in range(CONVERSATIONS)]
        seqs = {c: 0 for c in ids}
        now = int(time.time() * 1000)
        # The conversations exist already (they were created before the chat).
        db.execute("BEGIN IMMEDIATE")
        for c in ids:
            db.execute(upsert, conversation_row(c, 0, now, ""))
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        frames0 = wal_frames(path)
        t0 = time.perf_counter()
        k = 0
        while k < MESSAGES:
            db.execute("BEGIN IMMEDIATE")
            last = {}
            for _ in range(min(batch, MESSAGES - k)):
                c = ids[k % CONVERSATIONS]
                seqs[c] += 1
                now += 1
                text = f"Message {k} of the relay benchmark. " + "x" * 30
                db.execute("SAVEPOINT w")
                if variant in ("today", "one_index"):
                    db.execute(upsert, conversation_row(c, seqs[c], now, text))
                elif variant == "coalesced":
                    last[c] = conversation_row(c, seqs[c], now, text)
                db.execute(INSERT_EVENT, (c, seqs[c], "visitor", "", "Visitor", f"v0-{k}-{now}", text, now))
                db.execute("RELEASE w")
                k += 1
            for row in last.values():
                db.execute(upsert, row)
            db.execute("COMMIT")
        elapsed = time.perf_counter() - t0
        frames = wal_frames(path) - frames0
        db.close()
        return frames / MESSAGES, elapsed / MESSAGES * 1e6


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    rows, version = schema_of(sys.argv[1])
    print(f"schema version {version} from {sys.argv[1]}; {CONVERSATIONS} conversations, {MESSAGES} messages,"
          f" SQLite {sqlite3.sqlite_version}, WAL, synchronous=FULL")
    print(f"{'variant':<12} {'batch':>5} {'WAL pages/msg':>14} {'KiB/msg':>8} {'µs/msg':>8}")
    for variant in ["today", "coalesced", "one_index", "events_only"]:
        for batch in BATCHES:
            pages, us = run(rows, variant, batch)
            print(f"{variant:<12} {batch:>5} {pages:>14.2f} {pages * (PAGE + 24) / 1024:>8.1f} {us:>8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
