"""Render minimal IAM policies from the permission registry.

Each selected declaration contributes (action, resource ARN, condition) grants; grants are merged into readable
statements (one per service, condition and resource set, with a Sid saying what they are for), redundant grants
are dropped (a ``*`` resource covers specific ones; an unconditioned grant covers a conditioned one), and the
result is split into several managed policies when it exceeds IAM's size limit.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from skyvault.errors import NotFoundError
from skyvault.permissions.iamref import IamReference, iam_reference
from skyvault.permissions.registry import REGISTRY, Feature, Permission, Registry
from skyvault.permissions.restricted import NONE, Restriction, restriction_for
from skyvault.permissions.service_use import service_use_block

POLICY_VERSION = "2012-10-17"
# IAM's limit for a customer managed policy, counted without whitespace.
MANAGED_POLICY_MAX_CHARS = 6144
# AWS documents these as needing no permission (GetCallerIdentity works even under an explicit deny).
NO_PERMISSION_ACTIONS = frozenset({"sts:GetCallerIdentity"})

# The policy rows of the product (``skyvault policy ROW``): rows fill as their drivers declare permissions.
POLICY_ROWS: dict[str, str] = {
    "ec2": "EC2 instances, EBS volumes, snapshots and AMIs",
    "ec2-agents": "application-consistent EC2 snapshots through SSM run-command pre/post scripts",
    "rds": "RDS and Aurora",
    "redshift": "Redshift",
    "docdb": "DocumentDB",
    "dynamodb": "DynamoDB",
    "s3": "S3 buckets",
    "s3-outposts": "S3 on Outposts",
    "convert": "VM conversion to EC2",
    "convert-vmimport": "VM conversion to EC2 through VM Import/Export (S3 upload, ImportImage, the vmimport role)",
    "library": "the S3 library bucket (incl. STS role access, KMS key wrapping, Object Lock)",
    "admin": "the admin account (assumes tenant roles)",
    "check": "the preflight check (iam:SimulatePrincipalPolicy on the caller itself)",
}
_KIND_LABEL = {
    "managed": "OnlySkyvaultManaged",
    "allow-overwrite": "OnlyOverwriteAllowed",
    "own-tag-keys": "OnlyOwnTagKeys",
    "create-with-tag": "CreateTaggedManaged",
    "tag-write": "NoControlTags",
    "passable-role": "OnlyPassableRoles",
    "owner-opt-in": "OnlyOwnerAllowed",
}
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def substitute(template: str, values: Mapping[str, str]) -> str:
    """Fill ``${Partition}``/``${Region}``/``${Account}``/``${Bucket}``/``${Prefix}``: given values, else ``*``."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), "aws" if m.group(1) == "Partition" else "*"), template)


@dataclass(frozen=True)
class Grant:
    """One action on one resource (rendered ARN) under one condition block (canonical JSON, '' for none)."""

    action: str
    resource: str
    condition: str
    label: str  # the Sid fragment naming the condition ('' when unconditioned)


@dataclass
class PolicyDocument:
    name: str
    statements: list[dict[str, Any]] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        return {"Version": POLICY_VERSION, "Statement": self.statements}

    def size(self) -> int:
        return policy_size(self.document())

    def actions(self) -> list[str]:
        return sorted({a for s in self.statements for a in s["Action"]})


def policy_size(document: Mapping[str, Any]) -> int:
    return len(re.sub(r"\s", "", json.dumps(document, separators=(",", ":"))))


def check_rows(rows: Sequence[str], registry: Registry = REGISTRY) -> None:
    """Fail clearly for an unknown row or a row whose drivers have not declared anything yet."""
    for row in rows:
        if row not in POLICY_ROWS:
            raise NotFoundError(f"unknown policy row {row!r}", hint=f"known rows: {', '.join(POLICY_ROWS)}")
        if not registry.select(policies=[row]):
            raise NotFoundError(
                f"no permissions are declared for {row!r}: its driver has not landed yet, so there is no policy "
                "to render (skyvault never prints a policy that no code uses)"
            )


def grants_for(
    permissions: Iterable[Permission],
    *,
    restricted: bool,
    values: Mapping[str, str],
    overrides: Mapping[str, Sequence[str]] | None = None,
    reference: IamReference | None = None,
) -> list[Grant]:
    """Every (action, resource, condition) the declarations need; ``overrides`` replace an action's resources."""
    reference = reference or iam_reference()
    grants: list[Grant] = []
    for permission in permissions:
        declared = _declared_block(permission, values)
        for action in permission.iam_actions:
            if action in NO_PERMISSION_ACTIONS:
                continue
            restriction = restriction_for(permission, action, reference) if restricted else NONE
            if restriction.kind == "withheld":
                continue
            ref = reference.action(action)
            use = service_use_block(permission, action, values)
            for template in reference.templates_for(permission, action):
                block: dict[str, Any] = {op: dict(keys) for op, keys in declared.items()}
                label = "Conditioned" if declared else ""
                if use:
                    for op, keys in use.items():
                        block.setdefault(op, {}).update(keys)
                    label = "ViaService"
                restricting = restriction.block_for(template)
                if restricting and _targeted(restriction, template, ref, reference):
                    for op, keys in restricting.items():
                        block.setdefault(op, {}).update(keys)
                    label = _KIND_LABEL.get(restriction.kind, "Conditioned")
                for resource in overrides.get(action, (template,)) if overrides else (template,):
                    rendered = substitute(resource, values)
                    grants.append(Grant(action, rendered, json.dumps(block, sort_keys=True) if block else "", label))
    return _drop_redundant(grants)


def _declared_block(permission: Permission, values: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    # Placeholders in condition values (``s3:prefix`` = ``${Prefix}/*``) are filled like ARNs; IAM's own policy
    # variables (``${aws:username}``) contain a colon and are left alone.
    block: dict[str, dict[str, Any]] = defaultdict(dict)
    for operator, key, wanted in permission.conditions:
        filled = [substitute(v, values) for v in wanted]
        block[operator][key] = filled if len(filled) != 1 else filled[0]
    return dict(block)


def _targeted(restriction: Restriction, template: str, action: Any, reference: IamReference) -> bool:
    if not restriction.targets or action is None:
        return True
    return bool(set(reference.resource_types_for(action, template)) & restriction.targets)


def _drop_redundant(grants: list[Grant]) -> list[Grant]:
    unique = list(dict.fromkeys(grants))
    unconditioned: dict[str, set[str]] = defaultdict(set)
    for g in unique:
        if not g.condition:
            unconditioned[g.action].add(g.resource)
    kept = []
    for g in unique:
        free = unconditioned.get(g.action, set())
        if g.condition and ("*" in free or g.resource in free):
            continue  # an unconditioned grant already allows it
        if g.resource != "*" and any(
            o.action == g.action and o.resource == "*" and o.condition == g.condition for o in unique
        ):
            continue  # '*' already covers it under the same condition
        kept.append(g)
    return kept


def _camel(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", text) if part)


def statements_for(grants: Iterable[Grant], reference: IamReference | None = None) -> list[dict[str, Any]]:
    """Merge grants into statements: per service prefix and condition, actions sharing one resource set."""
    reference = reference or iam_reference()
    by_condition: dict[tuple[str, str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for g in grants:
        by_condition[(g.action.split(":")[0], g.condition, g.label)][g.action].add(g.resource)
    statements: list[dict[str, Any]] = []
    used_sids: set[str] = set()
    for (prefix, condition, label), actions in sorted(by_condition.items()):
        by_resources: dict[tuple[str, ...], list[str]] = defaultdict(list)
        for action, resource_set in actions.items():
            by_resources[tuple(sorted(resource_set))].append(action)
        for resources, grouped in sorted(by_resources.items(), key=lambda item: (item[0] != ("*",), item[0])):
            sid = _unique_sid(_camel(prefix) + label + _resource_hint(grouped[0], resources, reference), used_sids)
            statement: dict[str, Any] = {
                "Sid": sid,
                "Effect": "Allow",
                "Action": sorted(grouped),
                "Resource": list(resources) if len(resources) > 1 else resources[0],
            }
            if condition:
                statement["Condition"] = json.loads(condition)
            statements.append(statement)
    return statements


def _resource_hint(action_name: str, resources: tuple[str, ...], reference: IamReference) -> str:
    if resources == ("*",):
        return "AnyResource"
    action = reference.action(action_name)
    types: list[str] = []
    for resource in resources:
        for rt in reference.resource_types_for(action, resource) if action else []:
            if rt not in types:
                types.append(rt)
    return "".join(_camel(t) for t in types[:3]) or "Scoped"


def _unique_sid(base: str, used: set[str]) -> str:
    sid, n = base, 2
    while sid in used:
        sid, n = f"{base}{n}", n + 1
    used.add(sid)
    return sid


def split_documents(
    name: str, statements: list[dict[str, Any]], limit: int = MANAGED_POLICY_MAX_CHARS
) -> list[PolicyDocument]:
    """First-fit-decreasing packing of statements into managed policies under IAM's size limit."""
    pieces: list[dict[str, Any]] = []
    for statement in statements:
        pieces.extend(_split_statement(statement, limit))
    docs: list[PolicyDocument] = []
    for statement in sorted(pieces, key=lambda s: -policy_size({"Statement": [s]})):
        for doc in docs:
            if policy_size({**doc.document(), "Statement": [*doc.statements, statement]}) <= limit:
                doc.statements.append(statement)
                break
        else:
            docs.append(PolicyDocument(name=f"{name}-{len(docs) + 1}", statements=[statement]))
    if len(docs) == 1:
        docs[0].name = name
    order = {id(s): i for i, s in enumerate(pieces)}
    for doc in docs:
        doc.statements.sort(key=lambda s: order[id(s)])
    return docs


def _split_statement(statement: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    overhead = policy_size({"Version": POLICY_VERSION, "Statement": []})
    if policy_size({"Statement": [statement]}) + overhead <= limit or len(statement["Action"]) < 2:
        return [statement]
    half = len(statement["Action"]) // 2
    first = {**statement, "Sid": statement["Sid"] + "A", "Action": statement["Action"][:half]}
    second = {**statement, "Sid": statement["Sid"] + "B", "Action": statement["Action"][half:]}
    return _split_statement(first, limit) + _split_statement(second, limit)


def render_policies(
    rows: Sequence[str],
    *,
    restricted: bool = False,
    values: Mapping[str, str] | None = None,
    overrides: Mapping[str, Sequence[str]] | None = None,
    registry: Registry = REGISTRY,
    limit: int = MANAGED_POLICY_MAX_CHARS,
    features: Iterable[Feature] | None = None,
) -> list[PolicyDocument]:
    """The managed policies (usually one) granting exactly what the rows' declarations need (optionally only
    for some features: the proof gives a principal exactly what the features it runs need)."""
    rows = list(dict.fromkeys(rows))
    check_rows(rows, registry)
    wanted = list(features) if features is not None else None
    selected = registry.select(policies=rows, features=wanted)
    if not selected:
        raise NotFoundError(f"no permissions are declared for {', '.join(rows)} with features {wanted}")
    grants = grants_for(selected, restricted=restricted, values=values or {}, overrides=overrides)
    name = "skyvault-" + "-".join(rows) + ("-restricted" if restricted else "")
    return split_documents(name, statements_for(grants), limit)
