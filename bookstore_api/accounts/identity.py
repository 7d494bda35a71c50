"""Who is asking: the signed-in user a bearer token stands for."""

from __future__ import annotations

from dataclasses import dataclass

from bookstore_core.accounts import is_staff_role


@dataclass(frozen=True)
class Identity:
    user_id: int
    email: str
    name: str
    role: str
    token_hash: bytes

    @property
    def is_staff(self) -> bool:
        return is_staff_role(self.role)
