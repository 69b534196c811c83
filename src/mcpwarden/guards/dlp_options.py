"""Policy options of the detection guards (``detection:`` in the policy file).

Owned by the detection engine work (issue 3); kept small until that lands.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mcpwarden.policy.base import StrictModel

Action = Literal["block", "redact", "warn", "off"]


class DetectionOptions(StrictModel):
    enabled: bool = Field(True, description="Scan arguments and results for secrets, PII and honeytokens.")
    arguments: Action = Field("block", description="What to do with validated/pattern findings in request arguments.")
    results: Action = Field("redact", description="What to do with validated/pattern findings in results.")
    generic: Action = Field("warn", description="What to do with generic (keyword + entropy) findings.")
