"""The installed botocore knows every operation skyvault declares and every request parameter skyvault sends.

mypy checks the parameters against the boto3 stubs (the newest models); this test checks them against the botocore
that is installed, so the minimum boto3/botocore in pyproject.toml is one whose models have all of them (README:
Dependencies). ``python tests/core/test_botocore_models.py DATA_DIR`` runs the same checks against the models of
another botocore (``DATA_DIR`` is its ``botocore/data``): how the minimum was found.

The parameters are read from the source: keyword arguments of calls to a client method (including
``get_paginator(...).paginate`` and ``get_waiter(...).wait``), and the keys of request dicts annotated with a stub
request type (``params: PutObjectRequestTypeDef = {...}``; ``params["Key"] = ...``).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import botocore.session
from botocore import xform_name
from botocore.exceptions import DataNotFoundError
from botocore.loaders import Loader
from botocore.model import ServiceModel, Shape
from botocore.waiter import WaiterModel

import skyvault
from skyvault.permissions.modules import load_declarations

if TYPE_CHECKING:
    from typing import TypeAlias

# The services skyvault has clients for (aws/clients.py types each one).
SERVICES = (
    "ec2",
    "ebs",
    "rds",
    "docdb",
    "redshift",
    "dynamodb",
    "s3",
    "s3control",
    "s3outposts",
    "sts",
    "iam",
    "kms",
    "ssm",
)
SRC = Path(skyvault.__file__).parent
Models: TypeAlias = "Callable[[str], ServiceModel]"


@dataclass(frozen=True)
class Sent:
    """Parameters one place in the source sends: ``services`` are the candidates (a method name can be shared)."""

    where: str
    services: tuple[str, ...]
    operation: str | None  # None: the request shape named by ``shape`` (a stub TypeDef)
    shape: str | None
    params: frozenset[str]


def installed_models() -> Models:
    session = botocore.session.get_session()
    return session.get_service_model


def models_from(data_dir: Path) -> Models:
    loader = Loader(extra_search_paths=[str(data_dir)], include_default_search_paths=False)
    return lambda service: ServiceModel(loader.load_service_model(service, "service-2"), service)


def _methods(models: Models) -> dict[str, list[tuple[str, str]]]:
    """boto3 method name -> (service, operation) of every service that has it."""
    methods: dict[str, list[tuple[str, str]]] = {}
    for service in SERVICES:
        for operation in models(service).operation_names:
            methods.setdefault(xform_name(operation), []).append((service, operation))
    return methods


def _waiter_models() -> dict[str, WaiterModel]:
    session = botocore.session.get_session()
    found = {}
    for service in SERVICES:
        try:
            found[service] = session.get_waiter_model(service)
        except DataNotFoundError:
            continue  # a service without waiters
    return found


def _constant(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _keys(node: ast.AST) -> set[str]:
    """A subscript key or dict key: a constant, or either constant of ``"A" if c else "B"``."""
    if isinstance(node, ast.IfExp):
        return _keys(node.body) | _keys(node.orelse)
    key = _constant(node)
    return {key} if key else set()


def _stub_types(tree: ast.Module) -> dict[str, tuple[str, str]]:
    """Local name -> (service, shape) of the request TypeDefs a module imports from ``types_boto3_<svc>``."""
    found: dict[str, tuple[str, str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("types_boto3_"):
            service = (node.module or "").removeprefix("types_boto3_").split(".")[0]
            for alias in node.names:
                if alias.name.endswith("TypeDef"):
                    found[alias.asname or alias.name] = (service, alias.name.removesuffix("TypeDef"))
    return found


def _typed_dicts(tree: ast.Module) -> dict[str, set[str]]:
    """The module's own TypedDict classes (requests built for more than one API) -> their keys."""
    found: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and any(isinstance(b, ast.Name) and b.id == "TypedDict" for b in node.bases):
            found[node.name] = {
                f.target.id for f in node.body if isinstance(f, ast.AnnAssign) and isinstance(f.target, ast.Name)
            }
    return found


def _scan(path: Path, tree: ast.Module, methods: dict[str, list[tuple[str, str]]]) -> Iterator[Sent]:
    stub_types = _stub_types(tree)
    own_types = _typed_dicts(tree)
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef):
            continue
        typed: dict[str, tuple[str, str, int]] = {}  # variable -> stub (service, shape, line)
        keys: dict[str, set[str]] = {}  # variable -> the keys the function gives it
        calls: list[ast.Call] = []
        for node in ast.walk(function):
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                annotation = node.annotation.id if isinstance(node.annotation, ast.Name) else ""
                if annotation in stub_types:
                    service, shape = stub_types[annotation]
                    typed[node.target.id] = (service, shape, node.lineno)
                keys.setdefault(node.target.id, set()).update(own_types.get(annotation, set()))
                if isinstance(node.value, ast.Dict):
                    keys[node.target.id].update(k for key in node.value.keys if key for k in _keys(key))
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
                        keys.setdefault(target.value.id, set()).update(_keys(target.slice))
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                calls.append(node)
        for name, (service, shape, line) in typed.items():
            if service in SERVICES:
                yield Sent(f"{path.relative_to(SRC.parent)}:{line}", (service,), None, shape, frozenset(keys[name]))
        for call in calls:
            yield from _call(path, call, methods, keys)


def _call(
    path: Path, call: ast.Call, methods: dict[str, list[tuple[str, str]]], keys: dict[str, set[str]]
) -> Iterator[Sent]:
    assert isinstance(call.func, ast.Attribute)
    params = {k.arg for k in call.keywords if k.arg is not None}
    for unpacked in (k.value for k in call.keywords if k.arg is None):
        if isinstance(unpacked, ast.Name):
            params |= keys.get(unpacked.id, set())
    method = call.func.attr
    receiver = call.func.value
    where = f"{path.relative_to(SRC.parent)}:{call.lineno}"
    if method in ("paginate", "wait") and isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Attribute):
        name = _constant(receiver.args[0]) if receiver.args else None
        if name and receiver.func.attr == "get_paginator" and name in methods:
            yield Sent(where, tuple(s for s, _ in methods[name]), methods[name][0][1], None, frozenset(params))
        elif name and receiver.func.attr == "get_waiter":
            for service, waiters in _waiter_models().items():
                for waiter in waiters.waiter_names:
                    if xform_name(waiter) == name:
                        operation = waiters.get_waiter(waiter).operation
                        yield Sent(where, (service,), operation, None, frozenset(params - {"WaiterConfig"}))
        return
    if method not in methods or not params or all(p[0].islower() for p in params):
        return  # no AWS call: AWS's parameters are PascalCase, those of moto's models and our functions are not
    candidates = [(s, op) for s, op in methods[method]]
    # A receiver named after its service (``docdb.restore_...``) is checked against that service alone.
    if isinstance(receiver, ast.Name) and any(s == receiver.id for s, _ in candidates):
        candidates = [(s, op) for s, op in candidates if s == receiver.id]
    yield Sent(where, tuple(s for s, _ in candidates), candidates[0][1], None, frozenset(params))


def sent_parameters(models: Models) -> list[Sent]:
    methods = _methods(models)
    found: list[Sent] = []
    for path in sorted(SRC.rglob("*.py")):
        found += _scan(path, ast.parse(path.read_text(), str(path)), methods)
    return found


def missing_parameters(models: Models) -> list[str]:
    """Each place that sends a parameter no candidate service's model has (for that operation or request shape)."""
    missing = []
    for sent in sent_parameters(models):
        known: set[str] = set()
        for service in sent.services:
            model = models(service)
            shape: Shape | None
            if sent.operation is not None and sent.operation in model.operation_names:
                shape = model.operation_model(sent.operation).input_shape
            elif sent.shape is not None and sent.shape in model.shape_names:
                shape = model.shape_for(sent.shape)
            else:
                continue
            known |= set(getattr(shape, "members", {}))
        unknown = sorted(sent.params - known)
        if unknown:
            missing.append(f"{sent.where}: {'/'.join(sent.services)} {sent.operation or sent.shape}: {unknown}")
    return missing


# IAM actions that are no API operation: AWS checks them while serving another call (RunInstances passes a role).
PERMISSION_ONLY = {("iam", "PassRole")}


def missing_operations(models: Models) -> list[str]:
    registry = load_declarations()
    return sorted(
        {
            f"{p.service}:{p.operation}"
            for p in registry
            if (p.service, p.operation) not in PERMISSION_ONLY and p.operation not in models(p.service).operation_names
        }
    )


def test_every_declared_operation_is_in_the_installed_botocore() -> None:
    assert missing_operations(installed_models()) == []


def test_every_sent_parameter_is_in_the_installed_botocore() -> None:
    assert missing_parameters(installed_models()) == []


def test_the_scan_sees_the_parameters_it_checks() -> None:
    # The scan must find what it checks: a typed request dict, a keyword call, and a request built for two APIs
    # (the cluster restore, sent to DocumentDB as its own call).
    sent = sent_parameters(installed_models())
    instance_restore = [s for s in sent if s.shape == "RestoreDBInstanceFromDBSnapshotMessage"]
    assert instance_restore and {"DBInstanceIdentifier", "DBInstanceClass", "Port"} <= instance_restore[0].params
    snapshots = [s for s in sent if s.operation == "CreateSnapshots"]
    assert snapshots and {"InstanceSpecification", "TagSpecifications"} <= snapshots[0].params
    docdb = [s for s in sent if s.services == ("docdb",) and s.operation == "RestoreDBClusterFromSnapshot"]
    assert docdb and {"SnapshotIdentifier", "CopyTagsToSnapshot"} <= docdb[0].params


def test_a_parameter_the_model_lacks_is_reported() -> None:
    # DocumentDB's RestoreDBClusterFromSnapshot as botocore 1.34.0 had it: no CopyTagsToSnapshot.
    loader = Loader()
    raw = loader.load_service_model("docdb", "service-2")
    del raw["shapes"]["RestoreDBClusterFromSnapshotMessage"]["members"]["CopyTagsToSnapshot"]
    installed = installed_models()
    older_docdb = ServiceModel(raw, "docdb")

    def models(service: str) -> ServiceModel:
        return older_docdb if service == "docdb" else installed(service)

    missing = missing_parameters(models)
    assert any("docdb RestoreDBClusterFromSnapshot" in line and "CopyTagsToSnapshot" in line for line in missing)


if __name__ == "__main__":
    data = models_from(Path(sys.argv[1]))
    for line in missing_operations(data) + missing_parameters(data):
        print(line)
