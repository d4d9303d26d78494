"""``python -m bench.fuzz``: crafted inbound records through the router's decode path.

The cases and the worker process that reads them with the router's own readers come from
tests/decode_fuzz.py (the test suite runs a short version of the same). Prints cases,
accepted, rejected by reason, crashes, hangs (> 1 s), what was accepted that must not be
(foreign writer schemas, trailing bytes, non-canonical encodings) and the worker's maximum
RSS; exits 1 if any of those four is not 0. ``make bench`` runs it too.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from deploy.stack.local import LocalStack
from intelbus import serde
from intelbus.settings import Settings
from intelbus.tables import table
from tests.decode_fuzz import HANG_S, fuzz

__all__ = ["MUST_BE_ZERO", "render_fuzz", "run_fuzz"]

DEFAULT_CASES = 10_000
MUST_BE_ZERO = (
    "crashes",
    "hangs_over_1s",
    "accepted_foreign_schema",
    "accepted_trailing_bytes",
    "accepted_non_canonical",
)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_fuzz(settings: Settings, cases: int, seed: int) -> dict[str, Any]:
    _say(f"decode fuzz: {cases:,} crafted records (seed {seed}) ...")
    serde.register_schemas(serde.registry_client(settings), settings.schemas_dir)
    tally = fuzz(settings, cases, seed, progress=lambda done: _say(f"  {done:,} cases"))
    return tally.as_dict() | {"seed": seed}


def render_fuzz(result: dict[str, Any]) -> str:
    rejected: list[list[object]] = [
        [f"rejected: {reason}", f"{count:,}"]
        for reason, count in result["rejected_by_reason"].items()
    ]
    rows: list[list[object]] = [
        ["cases", f"{result['cases']:,}"],
        ["accepted", f"{result['accepted']:,}"],
        *rejected,
        ["crashes (the worker died)", result["crashes"]],
        [f"hangs (no answer within {HANG_S:g} s)", result["hangs_over_1s"]],
        ["accepted with a foreign writer schema", result["accepted_foreign_schema"]],
        ["accepted with trailing bytes", result["accepted_trailing_bytes"]],
        ["accepted non-canonical", result["accepted_non_canonical"]],
        ["slowest case", f"{result['slowest_case_ms']} ms"],
        ["max RSS of the decoding worker", f"{result['max_rss_mb']} MB"],
    ]
    head = f"decode fuzz through the router's readers (seed {result['seed']})"
    return "\n".join([head, table(["", "count"], rows)])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cases", type=int, default=DEFAULT_CASES)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the tally as JSON")
    args = parser.parse_args()
    settings = Settings()
    LocalStack(settings, say=lambda line: _say(f"[stack] {line}")).up()
    result = run_fuzz(settings, args.cases, args.seed)
    print(json.dumps(result, indent=2) if args.json else render_fuzz(result))
    sys.exit(1 if any(result[key] for key in MUST_BE_ZERO) else 0)


if __name__ == "__main__":
    main()
