"""Settings that hold a secret may name it instead: `secret://NAME` or `op://vault/item/field`.

`resolve_setting` is how another domain turns such a field into its value, for DevFlow itself
(principal None):

- `secret://NAME`: the system tier's `NAME` in `secrets.default_environment`, through the
  configured providers (`resolution`), audited as a read by `devflow` with the caller's purpose
  as the reason;
- `op://…`: through the process's `OnePassword` (TTL cache, single flight, batching,
  last-known-good), as `secrets.key_reference` is;
- any other text is the value itself.

Nothing is cached here: a caller that asks again gets the current version (for `op://`, once
1Password's `cache_ttl_seconds` has passed). Errors name the setting and the reference, never a
value (text that is not a reference is never quoted back).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from devflow.core.errors import DevflowError, Invalid, NotFound

if TYPE_CHECKING:
    from devflow.core.services import Services

SECRET_SCHEME = "secret://"  # noqa: S105 - a scheme, not a credential
OP_SCHEME = "op://"


async def resolve_setting(
    services: Services, value: str, *, purpose: str, label: str | None = None
) -> str:
    """Return the value a setting's text stands for (see the module docstring).

    Args:
        services: the process's services (the secrets resolver and the database).
        value: the setting's text: `secret://NAME`, `op://…` or the value itself.
        purpose: why DevFlow reads it, recorded in the audit log (`llm provider openai`).
        label: the setting as error messages name it (default: `purpose`).

    Raises:
        NotFound: `secret://NAME` is not set in the system tier (audited).
        Invalid: a bad name or reference, or a stored value that does not open.
        OnePasswordError: 1Password could not give the value (its subclasses say why).
        Conflict: the read could not be audited (`secrets.audit_required`).
    """
    said = label or purpose
    if value.startswith(SECRET_SCHEME):
        return await _from_store(services, value.removeprefix(SECRET_SCHEME), purpose, said)
    if value.startswith(OP_SCHEME):
        from devflow.secrets import SECRETS

        try:
            return str((await services.get(SECRETS).onepassword.resolve(value)).value)
        except DevflowError as exc:
            raise _prefixed(exc, said) from None
    return value


async def _from_store(services: Services, name: str, purpose: str, said: str) -> str:
    from devflow.secrets import SECRETS
    from devflow.secrets.scopes import check_name

    try:
        check_name(name)
    except Invalid as exc:
        raise Invalid(f"{said}: `{SECRET_SCHEME}…`: {exc.message}") from None
    resolver = services.get(SECRETS)
    environment = resolver.conf.default_environment
    async with services.sessions() as session:
        try:
            [found] = await resolver.resolve_many(
                session, principal=None, names=[name], project=None, user=None,
                environment=environment, reason=purpose,
            )  # fmt: skip
        except NotFound:
            where = "" if environment == "development" else f" --env {environment}"
            raise NotFound(
                f"{said}: {SECRET_SCHEME}{name} is not set in the system tier "
                f"(devflow secrets set {name} --system{where})",
                details={"reference": f"{SECRET_SCHEME}{name}", "environment": environment},
            ) from None
        except DevflowError as exc:
            raise _prefixed(exc, said) from None
    assert found.value is not None  # noqa: S101 - resolve_many reveals by default
    return found.value


def _prefixed(exc: DevflowError, said: str) -> DevflowError:
    """The same error, its message naming the setting first."""
    from devflow.secrets.onepassword import OnePasswordError

    message = f"{said}: {exc.message}"
    if isinstance(exc, OnePasswordError):
        return type(exc)(message, reference=exc.reference)
    try:
        return type(exc)(message, details=exc.details)
    except TypeError:  # a subclass with its own constructor keeps its kind's status
        return Invalid(message, details=exc.details)
