"""Personal data an order may carry, and what is personal.

The customer id is the shop's pseudonym for a person: it stays readable everywhere
(reconcile, the fraud lists and `CustomerId` queries need it). What identifies the
person — the recipient's name, an email address, a shipping address — is personal data.
It travels only sealed: each value encrypted under the customer's own data key by the
client that starts the order (encryption.personal), and bound to its customer, order and
field. The domain carries the sealed values as opaque text and never looks inside; a
value in clear where a sealed one belongs is refused before anything records it.
"""

from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, Field

# What every sealed value begins with (encryption.personal writes it).
SEALED_PREFIX = "sealed:v1:"
PERSONAL_FIELDS = ("name", "email", "address")
# Room for the longest clear value sealed: a nonce, a tag, base64 and the key's id.
_MAX_SEALED = 4_096


class PersonalData(BaseModel):
    """The recipient's name, email address and shipping address: each optional, each
    sealed (a client's order file holds them in clear; the client seals them before the
    order starts)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=_MAX_SEALED)
    email: str | None = Field(default=None, min_length=1, max_length=_MAX_SEALED)
    address: str | None = Field(default=None, min_length=1, max_length=_MAX_SEALED)

    def fields(self) -> Iterator[tuple[str, str]]:
        """(field, value) of each field given."""
        for field in PERSONAL_FIELDS:
            value = getattr(self, field)
            if value is not None:
                yield field, value

    def unsealed(self) -> list[str]:
        """The fields given in clear (none, once a client sealed them)."""
        return [field for field, value in self.fields() if not is_sealed(value)]


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)
