"""What validation finds wrong with an order, as data: a code to count and match on, the
product it concerns, and the message people read.

Validation results recorded before problems had codes (OrderValidated schema v1) held
the messages alone. They were written by this project's own rules, in the few forms
below, so `problem_from_message` can still tell their codes; that is the one place a
message is read back into data, and it reads only those old, fixed forms.
"""

import re
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class ProblemCode(StrEnum):
    NO_ITEMS = "no_items"
    ZERO_QUANTITY = "zero_quantity"
    NEGATIVE_QUANTITY = "negative_quantity"
    INVALID_PRICE = "invalid_price"
    TOTAL_MISMATCH = "total_mismatch"
    LARGE_ORDER = "large_order"  # a warning, not an error
    OTHER = "other"  # a message from before codes that matches no known form


class ValidationProblem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: ProblemCode
    subject: str | None = None  # the product the problem is about, if it is about one
    message: str


_V1_FORMS: tuple[tuple[re.Pattern[str], ProblemCode], ...] = (
    (re.compile(r"^Order must contain at least one item$"), ProblemCode.NO_ITEMS),
    (re.compile(r"^Item (?P<subject>.+) has zero quantity$"), ProblemCode.ZERO_QUANTITY),
    (re.compile(r"^Item (?P<subject>.+) has negative quantity$"), ProblemCode.NEGATIVE_QUANTITY),
    (re.compile(r"^Item (?P<subject>.+) has invalid price$"), ProblemCode.INVALID_PRICE),
    (re.compile(r"^Total amount mismatch: "), ProblemCode.TOTAL_MISMATCH),
    (re.compile(r"^Large order amount - manual review recommended$"), ProblemCode.LARGE_ORDER),
)


def problem_from_message(message: str) -> ValidationProblem:
    """A problem recorded before codes existed (schema v1), told by its message's form."""
    for form, code in _V1_FORMS:
        if found := form.match(message):
            return ValidationProblem(code=code, subject=found.groupdict().get("subject"), message=message)
    return ValidationProblem(code=ProblemCode.OTHER, message=message)
