"""Print the mutation score of each module, from what ``mutmut results --all true`` prints.

``./dev mutate`` pipes mutmut's results into this: one line per mutant, ``<module>.<function>
__mutmut_<n>: <status>``. Every mutant counts in the total, so a mutant no test reaches
(``no tests``) lowers the score as much as one that survives. Timeouts count as killed, as mutmut's
own badge counts them. The mutants that were not killed are listed after the table.

Example:
    $ .venv/bin/mutmut results --all true | .venv/bin/python tests/mutation_report.py
"""

from __future__ import annotations

import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable

_LINE = re.compile(r"\s*(?P<name>\S+__mutmut_\d+): (?P<status>.+)")
# A mutant's name: the module, then ``x_<function>`` or ``xǁ<Class>ǁ<method>``.
_MODULE = re.compile(r"(?P<module>.+?)\.x[_ǁ]")
_KILLED = frozenset({"killed", "timeout", "caught by type check"})


def tally(lines: Iterable[str]) -> tuple[dict[str, Counter[str]], dict[str, list[str]]]:
    """Count statuses per module, and collect the names of the mutants not killed."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    alive: dict[str, list[str]] = defaultdict(list)
    for line in lines:
        found = _LINE.fullmatch(line.rstrip("\n"))
        if found is None:
            continue
        name, status = found["name"], found["status"].strip()
        module_match = _MODULE.match(name)
        module = module_match["module"] if module_match else name
        counts[module][status] += 1
        if status not in _KILLED:
            alive[module].append(f"{name}: {status}")
    return counts, alive


def _row(cells: Iterable[object]) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def render(counts: dict[str, Counter[str]], alive: dict[str, list[str]]) -> str:
    """A Markdown table (module, killed, survived, no tests, other, total, score) and the list."""
    lines = [
        _row(("module", "killed", "survived", "no tests", "other", "total", "score")),
        _row(("---",) * 7),
    ]
    grand: Counter[str] = Counter()
    for module in sorted(counts):
        grand.update(counts[module])
        lines.append(_row((module, *_cells(counts[module]))))
    lines.append(_row(("**all**", *_cells(grand))))
    for module in sorted(alive):
        lines += ["", f"{module}: not killed", *(f"    {name}" for name in sorted(alive[module]))]
    return "\n".join(lines)


def _cells(counter: Counter[str]) -> tuple[object, ...]:
    total = sum(counter.values())
    killed = sum(counter[status] for status in _KILLED)
    survived, untested = counter["survived"], counter["no tests"]
    other = total - killed - survived - untested
    score = f"{100 * killed / total:.1f}%" if total else "-"
    return killed, survived, untested, other, total, score


def main() -> int:
    counts, alive = tally(sys.stdin)
    if not counts:
        print("no mutmut results on stdin (run `mutmut run` first)", file=sys.stderr)
        return 1
    print(render(counts, alive))
    return 0


if __name__ == "__main__":
    sys.exit(main())
