"""``--group-pattern``: the user's regular expression for a file's group, checked before use.

Python's ``re`` backtracks, and cannot be interrupted (it holds the GIL), so a pattern with a
quantifier inside a quantifier, such as ``(a+)+c``, runs for 30 s or more at full CPU on one
long path without a match (issue 23). Such patterns are refused with a message; a group
pattern never needs them (``patient(\\d+)``, ``(P\\d{3})_``).
"""

from __future__ import annotations

import re
import re._constants as sre_constants
import re._parser as sre_parse
from typing import Any

from medview.core.errors import MedviewError

_REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT}


def compile_group_pattern(text: str) -> re.Pattern[str]:
    """``text`` compiled; MedviewError when it is invalid or may backtrack without end."""
    try:
        pattern = re.compile(text)
        parsed = sre_parse.parse(text)
    except re.error as exc:
        raise MedviewError(f"invalid --group-pattern {text!r}: {exc}") from exc
    if _nested_repeat(list(parsed), inside=False):
        raise MedviewError(
            f"--group-pattern {text!r} repeats a repeated part (like (a+)+): such patterns can "
            "take minutes on one file name; write it without the nested repetition"
        )
    return pattern


def _nested_repeat(items: list[Any], inside: bool) -> bool:
    """Whether a repeat of more than one occurrence sits inside another one."""
    for op, value in items:
        if op in _REPEATS:
            _low, high, body = value
            many = high is sre_constants.MAXREPEAT or high > 1
            if (many and inside) or _nested_repeat(list(body), inside or many):
                return True
        elif any(_nested_repeat(list(part), inside) for part in _parts(op, value)):
            return True
    return False


def _parts(op: Any, value: Any) -> list[Any]:
    """The sub-patterns of a group, an alternation or a look-around."""
    if op is sre_constants.SUBPATTERN:
        return [value[-1]]
    if op is sre_constants.BRANCH:
        return list(value[1])
    if op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
        return [value[1]]
    return []
