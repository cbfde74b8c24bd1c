"""The operator knows the apps only through `gochat.core` and `gochat.contract`.

import-linter has no allowlist contract, so `.importlinter` forbids every other module of
`gochat` by name; this test keeps that list complete when a module is added to the apps.
"""

from __future__ import annotations

import configparser
import pathlib

import gochat

ROOT = pathlib.Path(__file__).resolve().parents[2]
ALLOWED = {"gochat.core", "gochat.contract"}


def forbidden(contract: str) -> set[str]:
    parser = configparser.ConfigParser()
    parser.read(ROOT / ".importlinter")
    return set(parser[f"importlinter:contract:{contract}"]["forbidden_modules"].split())


def gochat_modules() -> set[str]:
    package = pathlib.Path(gochat.__file__).parent
    return {
        f"gochat.{path.stem}"
        for path in package.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__")
        or (path.is_dir() and (path / "__init__.py").exists())
    }


def test_the_operator_may_import_only_core_and_contract() -> None:
    modules = gochat_modules()
    assert modules >= ALLOWED
    assert forbidden("operator-is-separate") == modules - ALLOWED


def test_the_contract_imports_no_service_code() -> None:
    assert forbidden("contract-is-not-service-code") >= modules_of_services()


def modules_of_services() -> set[str]:
    return gochat_modules() - ALLOWED - {"gochat.__main__"}
