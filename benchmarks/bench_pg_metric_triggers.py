"""The write cost of PostgreSQL's triggers on ``metric`` (schema version 9): the same COPY of points,
with the triggers enabled and disabled, interleaved.

    python benchmarks/bench_pg_metric_triggers.py [--points 1000000] [--repeat 4] [--postgres URL]

Each measurement appends ``--points`` rows in COPY statements of ``bulk.CHUNK`` rows, each in its
own transaction marked as the observer's (``common.WRITER_SETTING``), as ``SqlObserver`` does: what
differs is only the capture of each statement's rows for the INSERT trigger's transition table and
the trigger's call.  The rows are truncated between measurements.  Reported: the median seconds for
all points, each way, and the ratio.  Runs in a database ``ek_bench_trig_<random>``, dropped after.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time
import uuid

from _common import table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=4)
    parser.add_argument("--postgres", default=os.environ.get("EXPERIMENTKIT_TEST_POSTGRES"))
    args = parser.parse_args()
    if not args.postgres:
        parser.error("no PostgreSQL URL: --postgres or EXPERIMENTKIT_TEST_POSTGRES")
    import sqlalchemy as sa

    from experimentkit.backends.sql import migrations
    from experimentkit.backends.sql.bulk import CHUNK
    from experimentkit.backends.sql.common import WRITER_SETTING

    base = sa.make_url(args.postgres).set(drivername="postgresql+psycopg2")
    name = f"ek_bench_trig_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        engine = sa.create_engine(base.set(database=name))
        migrations.upgrade(engine)
        raw = engine.raw_connection()
        cursor = raw.cursor()
        chunk = "".join(
            f"r\tloss\t{i}\t{i * 0.5!r}\t2024-01-01 00:00:{i % 60:02d}.{i % 1_000_000:06d}\n"
            for i in range(CHUNK)
        )

        def load() -> float:
            start = time.perf_counter()
            for _ in range(args.points // CHUNK):
                cursor.execute("SELECT set_config(%s, 'on', true)", (WRITER_SETTING,))
                cursor.copy_expert(
                    'COPY metric (run_id, name, step, value, "timestamp") FROM STDIN', io.StringIO(chunk)
                )
                raw.commit()
            seconds = time.perf_counter() - start
            cursor.execute("TRUNCATE metric, metric_block")
            raw.commit()
            return seconds

        samples: dict = {"disabled": [], "enabled": []}
        for _ in range(args.repeat):
            for state in samples:
                for trigger in migrations._TRIGGERS:
                    cursor.execute(f"ALTER TABLE metric {state[:-1].upper()} TRIGGER {trigger}")
                raw.commit()
                samples[state].append(load())
        raw.close()
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()
    off, on = (statistics.median(samples[state]) for state in ("disabled", "enabled"))
    print(f"load average: {os.getloadavg()}")
    print(
        table(
            [
                ["triggers disabled", f"{args.points:,}", f"{off:.2f} s", f"{args.points / off:,.0f}"],
                [
                    "triggers enabled",
                    f"{args.points:,}",
                    f"{on:.2f} s",
                    f"{args.points / on:,.0f} ({on / off - 1:+.1%})",
                ],
            ],
            ["COPY into metric", "points", "median", "rows/s"],
        )
    )


if __name__ == "__main__":
    main()
