"""The write workloads, driven from `run.py`: both sides' workers, interleaved repetitions.

Each repetition runs every cell (operation x context x side x model) once, in an order that
rotates between repetitions, so drift on the machine spreads over all cells alike. A cell
whose samples already took more than its time budget stops repeating (its repetition count
is then shown in the tables).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import benchutil

BENCH = Path(__file__).resolve().parent

OPERATIONS = ["create", "save", "bulk_create", "update", "delete"]
SINGLE_ROW = ("create", "save")
#: The floor of each bulk write that has one (see worker.py), measured on the untracked model.
FLOORS = {"update": "update_floor", "delete": "delete_floor"}
#: Operations that start from a full table.
NEEDS_ROWS = ("save", "update", "delete", *FLOORS.values())


class WorkerError(RuntimeError):
    pass


class Worker:
    """A `worker.py` process of one side."""

    def __init__(self, side: str, python: str, settings: str, url: str):
        self.side = side
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("PYTHONPATH", "PYTHONHOME", "DJANGO_SETTINGS_MODULE")
        }
        env.update(DJANGO_SETTINGS_MODULE=settings, BENCH_DATABASE_URL=url)
        self.process = subprocess.Popen(
            [python, str(BENCH / "worker.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=BENCH,
            env=env,
        )

    def call(self, **command) -> dict:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise WorkerError(f"the {self.side} worker exited ({self.process.wait()})")
        answer = json.loads(line)
        if "error" in answer:
            sys.stderr.write(answer.get("trace", ""))
            raise WorkerError(f"{self.side} worker, {command}: {answer['error']}")
        return answer

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.process.stdin.close()
            except BrokenPipeError:
                pass
            self.process.wait(timeout=60)


@dataclass
class Cell:
    """One measured combination, with its samples."""

    side: str
    op: str
    model: str
    n: int
    context: bool = False
    timeout: float | None = None
    budget: float = 60.0
    samples: list = field(default_factory=list)
    timed_out: bool = False
    checks: list = field(default_factory=list)

    @property
    def key(self) -> str:
        ctx = "ctx" if self.context else "noctx"
        return f"{self.side}/{self.op}/{self.model}/{self.n}/{ctx}"

    def spent(self) -> float:
        return sum(sample for sample in self.samples if sample is not None)

    def wants_more(self, repeat: int) -> bool:
        if self.timed_out or len(self.samples) >= repeat:
            return False
        return not self.samples or self.spent() < self.budget

    def to_json(self) -> dict:
        return {
            "side": self.side,
            "op": self.op,
            "model": self.model,
            "rows": self.n,
            "context": self.context,
            "samples_s": self.samples,
            "median_s": benchutil.median(self.samples),
            "repetitions": len(self.samples),
            "timed_out": self.timed_out,
            "checks": self.checks,
        }


def expected_events(cell: Cell) -> int | None:
    """Events a tracked cell must leave in its event table (both libraries store one event
    per changed row for each of these operations)."""
    if cell.model == "untracked":
        return None
    return cell.n


def measure(cells: list[Cell], workers: dict[str, Worker], repeat: int, log) -> None:
    """Run every cell up to `repeat` times, interleaved."""
    for rep in range(repeat):
        pending = [cell for cell in cells if cell.wants_more(repeat)]
        if not pending:
            break
        # Rotate the order so no cell always runs first or last.
        shift = (rep * 7) % len(pending)
        pending = pending[shift:] + pending[:shift]
        log(f"bench: writes, repetition {rep + 1}/{repeat}: {len(pending)} cells")
        for cell in pending:
            worker = workers[cell.side]
            worker.call(
                cmd="prepare", model=cell.model, rows=cell.n if cell.op in NEEDS_ROWS else 0
            )
            answer = worker.call(
                cmd="run",
                op=cell.op,
                model=cell.model,
                n=cell.n,
                context=cell.context,
                timeout=cell.timeout,
            )
            if answer.get("timed_out"):
                cell.timed_out = True
                log(f"bench:   {cell.key}: over {cell.timeout:.0f} s, stopped")
                continue
            cell.samples.append(answer["seconds"])
            expected = expected_events(cell)
            problems = []
            if answer.get("rows") != cell.n:
                problems.append(f"{answer.get('rows')} rows instead of {cell.n}")
            if expected is not None and answer.get("events") != expected:
                problems.append(f"{answer.get('events')} events instead of {expected}")
            if (
                expected is not None
                and cell.context
                and answer["events_with_context"] != (expected)
            ):
                problems.append(f"{answer['events_with_context']} events with a context")
            if problems:
                cell.checks.append("; ".join(problems))
                log(f"bench:   {cell.key}: {'; '.join(problems)}")
