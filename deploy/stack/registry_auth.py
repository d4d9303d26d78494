"""Who may use the schema registry: Apicurio Registry's own HTTP basic authentication with
role-based authorization (no identity server, no proxy).

Every principal of the data is a registry user with its bus password; the operator alone has
``sr-admin`` (register and change schemas), everybody else ``sr-readonly`` (read schemas:
what serializers and readers need). Quarkus reads the users from
``<registry working dir>/config/application.properties``, written owner-only: it holds the
passwords, like the secret store it is made from. Apicurio answers 401 to anonymous requests
and 403 to a read-only user's writes; its health port stays open for the readiness probe.
"""

from __future__ import annotations

from pathlib import Path

from intelbus.access.principals import Principals
from intelbus.secrets import SecretStore, write_private

__all__ = ["registry_users", "write_registry_users"]

_ADMIN, _READER = "sr-admin", "sr-readonly"


def registry_users(principals: Principals, store: SecretStore) -> str:
    """The registry's authentication settings (``application.properties``)."""
    lines = [
        "# Written by `intelbus stack up` from policies/principals.yaml and the secret store.",
        "quarkus.http.auth.basic=true",
        "quarkus.security.users.embedded.enabled=true",
        "quarkus.security.users.embedded.plain-text=true",
        "apicurio.auth.role-based-authorization=true",
        "apicurio.auth.role-source=token",
    ]
    for principal in principals.all:
        role = _ADMIN if principal.name == principals.operator else _READER
        lines += [
            f"quarkus.security.users.embedded.users.{principal.name}={store.ensure(principal.name)}",
            f"quarkus.security.users.embedded.roles.{principal.name}={role}",
        ]
    return "\n".join(lines) + "\n"


def write_registry_users(working_dir: Path, text: str) -> bool:
    """Write the settings owner-only where the registry reads them; True if they changed."""
    path = working_dir / "config" / "application.properties"
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_private(path, text.encode())
    return True
