"""What `pghistory.contrib.celery` adds to enqueueing a task: microseconds per `delay()`.

`run.py --only enqueue` (and the full run) runs this file in a subprocess:

    python bench/enqueue.py --calls N --repeat R --out FILE

One Celery app publishes a task to the machine's Redis (127.0.0.1:6379, database 12, a queue
named for the run and deleted after it; no worker, no result backend). Each repetition times
N `delay()` calls in each of four ways, in blocks of 100 calls, the ways in a rotating
order: the integration's handlers disconnected or connected, outside any context or inside a
`pghistory.context` (a user and a URL, as a request has). The figures are medians over the
blocks; the integration's cost is the difference between connected and disconnected in the
same state. The publishing handler alone (the header made from the context) is timed too.
"""

from __future__ import annotations

import argparse
import json
import os
import uuid
from contextlib import nullcontext

import benchutil
from benchutil import Stopwatch, median

BROKER = "redis://127.0.0.1:6379/12"
CALLS = 2_000
QUICK_CALLS = 400
#: Calls timed together (one sample).
BLOCK = 100
#: (name, handlers connected, inside a context)
WAYS = [
    ("without the integration, outside a context", False, False),
    ("without the integration, in a context", False, True),
    ("with the integration, outside a context", True, False),
    ("with the integration, in a context", True, True),
]


def run(config, url, recreate, run_child, log) -> dict:
    calls = QUICK_CALLS if config.quick else CALLS
    log(f"bench: enqueue, {calls:,} delay() calls each way, {config.repeat} repetitions")
    return run_child("enqueue.py", ["--calls", str(calls), "--repeat", str(config.repeat)], url)


def markdown(results: dict) -> str:
    """The enqueue section of the report ("" when the part did not run)."""
    enqueue = results.get("enqueue")
    if not enqueue:
        return ""
    us = enqueue["us_per_delay"]
    rows = []
    for name, connected, in_context in WAYS:
        baseline = us[WAYS[int(in_context)][0]]
        added = f"{us[name] - baseline:+.1f}" if connected else ""
        rows.append([name, f"{us[name]:.1f}", added])
    return (
        "\n## Enqueueing a Celery task\n\n"
        f"µs per `delay()` to Redis, median over blocks of {enqueue['block']} calls"
        f" ({enqueue['repeat']} × {enqueue['calls']:,} calls each way), the four ways"
        " alternating in one process (see `bench/enqueue.py`); the last column is what the"
        " integration adds to the same call without it. The publishing handler alone, in a"
        f" context: {enqueue['header_us']:.1f} µs per call.\n\n"
        + benchutil.table(["delay()", "µs", "µs added"], rows)
    )


# -- the measuring subprocess -----------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=CALLS)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    os.environ.pop("DJANGO_SETTINGS_MODULE", None)  # no Django fix-up in Celery: no database
    import django
    from django.conf import settings

    settings.configure(INSTALLED_APPS=["pgtrigger", "pghistory", "pghistory.contrib.celery"])
    django.setup()

    import redis
    from celery import Celery

    import pghistory
    from pghistory.contrib.celery import signals

    queue = f"pghistory-bench-{uuid.uuid4().hex[:12]}"
    app = Celery("pghistory_bench", broker=BROKER)
    app.conf.update(task_default_queue=queue, task_ignore_result=True)

    @app.task(name="bench.noop")
    def noop(value):
        return value

    def sample(connected: bool, in_context: bool, calls: int) -> float:
        (signals.connect if connected else signals.disconnect)()
        active = pghistory.context(user=1, url="/orders/42/") if in_context else nullcontext()
        with active, Stopwatch() as watch:
            for number in range(calls):
                noop.delay(number)
        return watch.seconds / calls * 1e6

    try:
        for connected, in_context in [(False, False), (True, True)]:  # warm the connection
            sample(connected, in_context, BLOCK)
        samples: dict[str, list[float]] = {name: [] for name, _, _ in WAYS}
        rounds = args.repeat * args.calls // BLOCK
        for number in range(rounds):
            # Short blocks, the four ways in a rotating order: drift on a shared machine
            # falls on all four alike.
            for name, connected, in_context in WAYS[number % 4 :] + WAYS[: number % 4]:
                samples[name].append(sample(connected, in_context, BLOCK))
        with pghistory.context(user=1, url="/orders/42/"), Stopwatch() as watch:
            for _ in range(args.calls):
                signals.add_context_header(headers={})
        header_us = watch.seconds / args.calls * 1e6
    finally:
        client = redis.Redis.from_url(BROKER)
        client.delete(queue, f"_kombu.binding.{queue}")
        client.close()

    result = {
        "calls": args.calls,
        "repeat": args.repeat,
        "broker": BROKER,
        "block": BLOCK,
        "us_per_delay": {name: median(values) for name, values in samples.items()},
        "header_us": header_us,
        "samples": samples,
    }
    with open(args.out, "w") as out:
        json.dump(result, out, indent=1)


if __name__ == "__main__":
    main()
