"""Who the audit trail names: a token's name, or a person signed in through the identity provider."""

from __future__ import annotations

from typing import Any


class Person(str):
    """The actor name of a signed-in person (their e-mail, else name, else subject), carrying who they are.

    A str, so every write path that records an actor takes it unchanged; the event adds `person` from it.
    """

    subject: str
    name: str | None
    email: str | None

    def __new__(cls, subject: str, name: str | None, email: str | None) -> Person:
        """Name the person as the audit trail shows them."""
        person = super().__new__(cls, email or name or subject)
        person.subject = subject
        person.name = name
        person.email = email
        return person

    def fields(self) -> dict[str, Any]:
        """Return the person as an audit event records them."""
        return {"subject": self.subject, "name": self.name, "email": self.email}
