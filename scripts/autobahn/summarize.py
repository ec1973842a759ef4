#!/usr/bin/env python3
"""Summarise an Autobahn-format report directory (index.json + one JSON per case).

Prints one line with the count of cases per verdict (`behavior`), then the details of
every case that did not pass: a FAILED, ERROR, NON-STRICT or UNIMPLEMENTED verdict, or a
closing handshake (`behaviorClose`) other than OK/INFORMATIONAL. Exits 1 if there is any such case, if the
report is missing or empty, or if it holds a number of cases other than --expect.

Usage: summarize.py REPORT_DIR [--expect N]
"""

from __future__ import annotations

import argparse
import collections
import html
import json
import re
import sys
from pathlib import Path

VERDICTS = ["OK", "NON-STRICT", "INFORMATIONAL", "FAILED", "UNIMPLEMENTED"]
# Since the engine is our own, NON-STRICT and UNIMPLEMENTED fail the run too.
BAD_BEHAVIOR = {"FAILED", "ERROR", "NON-STRICT", "UNIMPLEMENTED"}
GOOD_CLOSE = {"OK", "INFORMATIONAL"}


def case_key(case_id: str) -> list[int]:
    return [int(part) for part in case_id.split(".")]


def plain(text: str | None) -> str:
    """The report's descriptions are HTML fragments: make them one readable line."""
    text = re.sub(r"<br\s*/?>", " ", text or "")
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return " ".join(text.split())


def short(value: object, limit: int = 300) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 4] + " ..."


def details(report_dir: Path, case_id: str, entry: dict) -> list[str]:
    lines = [f"  case {case_id}: behavior {entry['behavior']}, close {entry['behaviorClose']}"]
    path = report_dir / entry.get("reportfile", "")
    try:
        case = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        return lines + [f"    (no case report: {err})"]
    lines += [
        f"    description: {plain(case.get('description'))}",
        f"    expectation: {plain(case.get('expectation'))}",
        f"    result:      {plain(case.get('result'))}",
        f"    expected:    {short(case.get('expected'))}",
        f"    received:    {short(case.get('received'))}",
        f"    close:       {plain(case.get('resultClose'))}",
        f"    expected close: {short(case.get('expectedClose'))}",
        "    close codes: server sent {} {}, suite sent {}; clean: {}{}".format(
            case.get("remoteCloseCode"),
            short(case.get("remoteCloseReason"), 80),
            case.get("localCloseCode"),
            case.get("wasClean"),
            f" ({case['wasNotCleanReason']})" if case.get("wasNotCleanReason") else "",
        ),
        f"    report:      {path}",
    ]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report_dir", type=Path)
    parser.add_argument("--expect", type=int, help="the number of cases the run must hold")
    args = parser.parse_args()

    try:
        index = json.loads((args.report_dir / "index.json").read_text())
    except (OSError, ValueError) as err:
        print(f"autobahn: no report in {args.report_dir}: {err}")
        return 1

    # index.json is {agent: {case id: entry}}; the agent is the server's name (or its
    # address). One run has one agent, but count every one of them.
    cases = [(case_id, entry) for agent in index.values() for case_id, entry in agent.items()]
    cases.sort(key=lambda item: case_key(item[0]))
    behavior = collections.Counter(entry["behavior"] for _, entry in cases)
    close = collections.Counter(entry["behaviorClose"] for _, entry in cases)

    counts = [f"{behavior[v]} {v}" for v in VERDICTS]
    counts += [f"{n} {v}" for v, n in sorted(behavior.items()) if v not in VERDICTS]
    closes = ", ".join(f"{n} {v}" for v, n in close.most_common())
    print(f"autobahn: {', '.join(counts)} ({len(cases)} cases; close: {closes or 'none'})")

    for verdict in ("NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED"):
        ids = [case_id for case_id, entry in cases if entry["behavior"] == verdict]
        if ids:
            print(f"  {verdict}: {' '.join(ids)}")

    bad = [
        (case_id, entry)
        for case_id, entry in cases
        if entry["behavior"] in BAD_BEHAVIOR or entry["behaviorClose"] not in GOOD_CLOSE
    ]
    status = 0
    if bad:
        print(f"autobahn: {len(bad)} case(s) FAILED, NON-STRICT, UNIMPLEMENTED or closed wrongly:")
        for case_id, entry in bad:
            print("\n".join(details(args.report_dir, case_id, entry)))
        status = 1
    if not cases:
        print("autobahn: the report holds no case")
        status = 1
    elif args.expect is not None and len(cases) != args.expect:
        print(f"autobahn: expected {args.expect} cases, the report holds {len(cases)}")
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
