"""Mailed one-time links: password resets and e-mail verification (at sign-up and on a change of address).

Tokens carry 256 random bits (``secrets.token_urlsafe(32)``); only their SHA-256 is
stored (``account_tokens``), with the address the link was mailed to. A token is
used up by one ``UPDATE ... WHERE used_at IS NULL AND expires_at > now()``, so two
requests can never both use it. A reset link lives 1 hour, a verification link 24.

Password reset requests answer the same (202, same body, same headers) whether or
not the address has an account, and do the same work: the user lookup, the
token, the rendering of the mail, and the two INSERTs, which select the account
by id and so write nothing for an unknown address. Limits (``infra.throttle``):

* per client address (429): one address cannot probe or spray many accounts;
* per (target e-mail, client address) (429): one client cannot hammer one account;
  a stranger reaching it is only held back from their own address;
* mails per target e-mail (silent): past it a request still answers 202 but no
  further mail is sent, so nobody can mail-bomb an address. It is never a 429: the
  answer must not tell a stranger that it was reached, and whoever reached it has
  not stopped the owner: the links already mailed to the owner keep working (a new
  request never cancels them), for an hour each.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets

from sqlalchemy import cast, literal, select, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from zope.sqlalchemy import mark_changed

from ..exceptions import Conflict, InvalidInput, RateLimited
from ..infra.throttle import WindowLimit, digest, longest_wait
from ..mail.messages import MailComposer
from ..mail.models import OutboxMessage
from .models import PASSWORD_RESET, VERIFY_EMAIL, AccountToken, User
from .services import TokenService, UserService, check_password, utcnow

RESET_TTL = dt.timedelta(hours=1)
VERIFY_TTL = dt.timedelta(hours=24)
#: a token as it appears in a link (base64url of 32 bytes is 43 characters)
TOKEN_BYTES = 32

INVALID_TOKEN_MESSAGE = "This link is not valid: it was already used, has expired, or was never issued."  # noqa: S105


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def invalid_token() -> InvalidInput:
    return InvalidInput(INVALID_TOKEN_MESSAGE, {"token": "invalid"}, code="invalid_token")


def _ttl_words(ttl: dt.timedelta) -> str:
    hours = int(ttl.total_seconds() // 3600)
    return "1 hour" if hours == 1 else f"{hours} hours"


class AccountTokens:
    """Issue and use the one-time tokens of ``account_tokens``."""

    def __init__(self, dbsession: Session):
        self.db = dbsession

    def issue(self, user_id: int, purpose: str, email: str, ttl: dt.timedelta) -> str:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        self.db.execute(
            insert(AccountToken).values(
                user_id=user_id, purpose=purpose, token_hash=hash_token(token), email=email, expires_at=utcnow() + ttl
            )
        )
        return token

    def use(self, token: str, purpose: str) -> AccountToken:
        """Mark the token used and return it; ``invalid_token`` (400) when unknown, used or expired."""
        if not token or len(token) > 256:
            raise invalid_token()
        row = self.db.execute(
            update(AccountToken)
            .where(
                AccountToken.token_hash == hash_token(token),
                AccountToken.purpose == purpose,
                AccountToken.used_at.is_(None),
                AccountToken.expires_at > utcnow(),
            )
            .values(used_at=utcnow())
            .returning(AccountToken.id, AccountToken.user_id, AccountToken.email)
        ).first()
        if row is None:
            raise invalid_token()
        return AccountToken(id=row.id, user_id=row.user_id, email=row.email, purpose=purpose)

    def retire(self, user_id: int, purpose: str, *, except_id: int | None = None) -> None:
        """Use up the account's other live tokens of this kind (superseded by what just happened)."""
        condition = [AccountToken.user_id == user_id, AccountToken.purpose == purpose, AccountToken.used_at.is_(None)]
        if except_id is not None:
            condition.append(AccountToken.id != except_id)
        self.db.execute(update(AccountToken).where(*condition).values(used_at=utcnow()))


class ResetLimits:
    """The three limits on password reset requests (see the module's docstring)."""

    def __init__(self, per_address: WindowLimit, per_pair: WindowLimit, mails_per_email: WindowLimit):
        self.per_address = per_address
        self.per_pair = per_pair
        self.mails_per_email = mails_per_email

    def take(self, email: str, address: str) -> bool:
        """Count one request; 429 when the client is over its limits; False when no mail may go to ``email``."""
        pair = digest(email, address)
        wait = longest_wait(self.per_address.retry_after(address), self.per_pair.retry_after(pair))
        if wait is not None:
            raise RateLimited("Too many password reset requests; try again later.", wait)
        self.per_address.hit(address)
        self.per_pair.hit(pair)
        target = digest(email)
        may_mail = self.mails_per_email.retry_after(target) is None
        self.mails_per_email.hit(target)
        return may_mail


class PasswordResets:
    def __init__(self, dbsession: Session, users: UserService, tokens: TokenService, mail: MailComposer):
        self.db = dbsession
        self.users = users
        self.tokens = tokens
        self.mail = mail
        self.account_tokens = AccountTokens(dbsession)

    def request(self, email: str, limits: ResetLimits, address: str) -> None:
        """Mail a reset link if ``email`` has an account: the same work and answer either way."""
        email = email.strip().lower()
        may_mail = limits.take(email, address)
        user = self.db.scalar(select(User).where(User.email == email, User.is_active.is_(True)))
        token = secrets.token_urlsafe(TOKEN_BYTES)
        row = self.mail.row(
            "password_reset",
            email,
            {"one_time_link": True},
            name=user.name if user is not None else email.partition("@")[0],
            reset_url=self.mail.link(f"/reset-password/{token}"),
            valid_for=_ttl_words(RESET_TTL),
        )
        # Both statements run for every request; they select the account by id, so for an unknown
        # address (or one whose mail allowance is used up) they write nothing.
        account_id = user.id if user is not None and may_mail else 0
        users = User.__table__
        self.db.execute(
            insert(AccountToken.__table__).from_select(
                ["user_id", "purpose", "token_hash", "email", "expires_at"],
                select(
                    users.c.id,
                    literal(PASSWORD_RESET),
                    literal(hash_token(token)),
                    users.c.email,
                    literal(utcnow() + RESET_TTL),
                ).where(users.c.id == account_id),
            )
        )
        self.db.execute(
            insert(OutboxMessage.__table__).from_select(
                ["kind", "recipient", "subject", "body", "html_body", "payload"],
                select(
                    literal(row["kind"]),
                    users.c.email,
                    literal(row["subject"]),
                    literal(row["body"]),
                    literal(row["html_body"]),
                    cast(literal(json.dumps(row["payload"])), JSONB),
                ).where(users.c.id == account_id),
            )
        )
        mark_changed(self.db)  # Core statements: tell the transaction manager there is something to commit

    def reset(self, token: str, password: str) -> User:
        """Set a new password with a reset link: every bearer token of the account is revoked."""
        used = self.account_tokens.use(token, PASSWORD_RESET)
        user = self.db.get(User, used.user_id, with_for_update=True)
        if user is None or not user.is_active:
            raise invalid_token()
        check_password(password, user.email)
        user.password_hash = self.users.passwords.hash(password)
        if used.email == user.email and user.email_verified_at is None:
            user.email_verified_at = utcnow()  # the link reached this address: it is theirs
        self.account_tokens.retire(user.id, PASSWORD_RESET)
        self.tokens.revoke_all(user.id)
        self.mail.queue(
            self.db,
            "password_changed",
            user.email,
            {"user_id": user.id},
            name=user.name,
            reset=True,
            reset_page_url=self.mail.link("/forgot-password"),
        )
        return user


class VerificationLimit:
    """Verification mails one account may cause (resends and address changes) in a window: 429 past it."""

    def __init__(self, limit: WindowLimit):
        self.limit = limit

    def take(self, user_id: int) -> None:
        wait = self.limit.retry_after(str(user_id))
        if wait is not None:
            raise RateLimited("Too many verification mails; try again later.", wait)
        self.limit.hit(str(user_id))


class EmailVerifications:
    def __init__(self, dbsession: Session, tokens: TokenService, mail: MailComposer):
        self.db = dbsession
        self.tokens = tokens
        self.mail = mail
        self.account_tokens = AccountTokens(dbsession)

    def send(self, user: User, email: str | None = None) -> None:
        """Mail a verification link for ``email`` (default: the account's own address)."""
        target = email or user.email
        token = self.account_tokens.issue(user.id, VERIFY_EMAIL, target, VERIFY_TTL)
        self.mail.queue(
            self.db,
            "verify_email",
            target,
            {"user_id": user.id, "one_time_link": True},
            name=user.name,
            change=target != user.email,
            verify_url=self.mail.link(f"/verify-email/{token}"),
            valid_for=_ttl_words(VERIFY_TTL),
        )

    def pending_change(self, user: User) -> str | None:
        """The new address of a change the account asked for and has not confirmed yet."""
        return self.db.scalar(
            select(AccountToken.email)
            .where(
                AccountToken.user_id == user.id,
                AccountToken.purpose == VERIFY_EMAIL,
                AccountToken.used_at.is_(None),
                AccountToken.expires_at > utcnow(),
                AccountToken.email != user.email,
            )
            .order_by(AccountToken.id.desc())
            .limit(1)
        )

    def resend(self, user: User, limit: VerificationLimit) -> None:
        """Mail the link again: for a pending change of address, else for the account's address if unverified."""
        target = self.pending_change(user)
        if target is None and user.email_verified_at is not None:
            return  # nothing to prove; the answer is the same 202
        limit.take(user.id)
        self.send(user, target)

    def request_change(self, user: User, new_email: str, limit: VerificationLimit) -> None:
        """Ask to move the account to ``new_email``: a link to the new address, a notice to the old one."""
        new_email = new_email.strip().lower()
        if new_email == user.email:
            raise InvalidInput("This is already your e-mail address.", {"new_email": "unchanged"})
        if self.db.scalar(select(User.id).where(User.email == new_email)) is not None:
            raise Conflict(
                "email_taken", "An account with this email already exists.", {"fields": {"new_email": "taken"}}
            )
        limit.take(user.id)
        # a newer request replaces an older one: only the latest address can be confirmed
        self.db.execute(
            update(AccountToken)
            .where(
                AccountToken.user_id == user.id,
                AccountToken.purpose == VERIFY_EMAIL,
                AccountToken.used_at.is_(None),
                AccountToken.email != user.email,
            )
            .values(used_at=utcnow())
        )
        self.send(user, new_email)
        self.mail.queue(
            self.db,
            "email_change_notice",
            user.email,
            {"user_id": user.id},
            name=user.name,
            new_email=new_email,
            reset_page_url=self.mail.link("/forgot-password"),
        )

    def confirm(self, token: str) -> User:
        """Use a verification link: the address is proved (and, for a change, becomes the account's)."""
        used = self.account_tokens.use(token, VERIFY_EMAIL)
        user = self.db.get(User, used.user_id, with_for_update=True)
        if user is None or not user.is_active:
            raise invalid_token()
        if used.email != user.email:
            taken = self.db.scalar(select(User.id).where(User.email == used.email, User.id != user.id))
            if taken is not None:
                raise Conflict("email_taken", "Another account uses this address now; the change was not made.", {})
            user.email = used.email
            try:
                with self.db.begin_nested():
                    self.db.flush()
            except IntegrityError as exc:
                raise Conflict(
                    "email_taken", "Another account uses this address now; the change was not made."
                ) from exc
            # links mailed for the old address (or other changes) prove nothing about the new one
            self.account_tokens.retire(user.id, VERIFY_EMAIL)
            self.tokens.forget_cached(user.id)
        user.email_verified_at = utcnow()
        return user


def includeme(config) -> None:
    settings = config.get_settings()

    def number(name: str) -> int:
        return int(settings[f"bookstore.{name}"])

    def reset_limits(context, request) -> ResetLimits:
        window = number("password_reset_window_seconds")
        return ResetLimits(
            WindowLimit(request.redis, "reset:addr", number("password_reset_max_per_address"), window),
            WindowLimit(request.redis, "reset:pair", number("password_reset_max_per_pair"), window),
            WindowLimit(request.redis, "reset:mail", number("password_reset_mails_per_email"), window),
        )

    def verification_limit(context, request) -> VerificationLimit:
        return VerificationLimit(
            WindowLimit(
                request.redis,
                "verify:user",
                number("verification_mails_per_user"),
                number("verification_window_seconds"),
            )
        )

    def resets(context, request) -> PasswordResets:
        return PasswordResets(
            request.dbsession,
            request.find_service(UserService),
            request.find_service(TokenService),
            request.registry["mail"],
        )

    def verifications(context, request) -> EmailVerifications:
        return EmailVerifications(request.dbsession, request.find_service(TokenService), request.registry["mail"])

    config.register_service_factory(reset_limits, ResetLimits)
    config.register_service_factory(verification_limit, VerificationLimit)
    config.register_service_factory(resets, PasswordResets)
    config.register_service_factory(verifications, EmailVerifications)
