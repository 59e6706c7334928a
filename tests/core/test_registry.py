"""The registry's view of policy rows: lab tooling declarations never become a product policy row."""

from __future__ import annotations

from skyvault.permissions.registry import Feature, Permission, Registry


def test_lab_declarations_are_not_a_policy_row() -> None:
    registry = Registry()
    registry.add(Permission("ec2", "ec2", "DescribeInstances", Feature.DISCOVER, "discover", "List instances."))
    registry.add(Permission("lab", "ec2", "RunInstances", Feature.LAB, "seed estate", "Build the demo estate."))
    assert registry.policies() == ["ec2"]
    # The guard still accepts the lab's calls: they are declared.
    assert registry.is_declared("ec2", "RunInstances")
