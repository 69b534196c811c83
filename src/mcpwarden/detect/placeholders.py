"""The global placeholder allowlist: values that look like secrets but are stand-ins.

It applies to every rule (never to honeytokens): template variables (``${VAR}``,
``{{ var }}``, ``%(var)s``), angle-bracket stand-ins (``<your-key>``), masks (``xxxx``,
``****``, ``....``), phrases such as ``your_api_key_here`` or ``changeme``, values made of one
or two repeated characters, and keys that providers publish in their documentation as
examples (AWS ``AKIAIOSFODNN7EXAMPLE``, anything containing ``EXAMPLE``).
"""

from __future__ import annotations

import itertools
import re

_PLACEHOLDER = re.compile(
    r"""\$\{[^}]*\}|\{\{[^}]*\}\}|%\([a-z_]+\)s|<[^<>\s]{1,40}>
    |x{4,}|X{4,}|\*{4,}|\.{4,}|\#{4,}|_{5,}
    |your[_\- ]?(?:api[_\- ]?)?(?:key|token|secret|password)|(?:api[_\-]?)?key[_\-]?here|replace[_\-]?me
    |change[_\-]?me|placeholder|dummy|redacted|example|sample[_\-]?(?:key|token|secret)|insert[_\-]?
    |fake[_\-]?(?:key|token|secret|password)|not[_\-]?a[_\-]?real|todo[_\-:]|fixme""",
    re.IGNORECASE | re.VERBOSE,
)
_SHELL_VARIABLE = re.compile(r"\$[A-Z_][A-Z0-9_]*")
_DOCUMENTED_EXAMPLES = frozenset(
    {
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
        "pk_test_TYooMQauvdEDq54NiTphI7jx",
        "xoxb-not-a-real-token-this-will-not-work",
        "0123456789abcdef0123456789abcdef",
    }
)


def is_placeholder(secret: str) -> bool:
    """True when ``secret`` is a stand-in rather than a credential."""
    if secret in _DOCUMENTED_EXAMPLES:
        return True
    compact = secret.strip()
    if len(set(compact)) <= 2:
        return True
    if _is_sequence(compact) or _SHELL_VARIABLE.fullmatch(compact):
        return True
    return _PLACEHOLDER.search(secret) is not None


def _is_sequence(value: str) -> bool:
    if len(value) < 6 or not value.isalnum():
        return False
    steps = {ord(b) - ord(a) for a, b in itertools.pairwise(value)}
    return steps in ({1}, {-1})
