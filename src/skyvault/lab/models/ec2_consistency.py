"""Model: EC2's eventual consistency: a just-created instance, volume, AMI or snapshot is not visible at once.

Real AWS ("Eventual consistency in the Amazon EC2 API", Amazon EC2 Developer Guide,
https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html): the result of a command may not be
visible to the commands that follow it. Right after ``RunInstances``, ``CreateVolume``, ``RegisterImage``/
``CreateImage`` or ``CreateSnapshot(s)``, a ``Describe*`` call that names the new ID may answer
``InvalidInstanceID.NotFound``, ``InvalidVolume.NotFound``, ``InvalidAMIID.NotFound`` or
``InvalidSnapshot.NotFound``, "which does not mean the resource does not exist"; a filtered listing (by tag, for
example) simply omits it. AWS advises describing with exponential backoff, from a couple of seconds up to a few
minutes.

moto 5.2.1 shows every resource the moment it is created. This model gives each instance, volume, AMI and
snapshot created through the API a moment from which it becomes visible (``delay_s`` after creation; on by
default and small, so every test meets it). Until then the Describe requests that name it answer AWS's
``...NotFound`` code, and listings omit it. Only Describe requests are affected (the hiding is scoped to their
response handlers): moto's internal look-ups, other operations and the lab's control routes see everything.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

DEFAULT_DELAY_S = 0.5
VISIBLE_AT = "_skyvault_visible_at"
_MARK = "_skyvault_ec2_consistency_model"


class _Settings:
    def __init__(self) -> None:
        self.delay_s = DEFAULT_DELAY_S


settings = _Settings()
_describing = threading.local()  # set while a Describe response handler runs: only those hide young resources


def configure(body: dict[str, Any]) -> dict[str, Any]:
    """``{"delay_s": seconds}``: how long new resources stay invisible (0 turns the model off until ``reset``)."""
    if "delay_s" in body:
        value = body["delay_s"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 3600:
            raise ValueError("'delay_s' must be a number of seconds between 0 and 3600")
        settings.delay_s = float(value)
    return {"delay_s": settings.delay_s}


def reset() -> None:
    settings.delay_s = DEFAULT_DELAY_S


def stamp(resource: Any) -> Any:
    """Mark a resource created now (once: a later wrapper of the same creation keeps the first stamp)."""
    if resource is not None and getattr(resource, VISIBLE_AT, None) is None:
        setattr(resource, VISIBLE_AT, time.monotonic() + settings.delay_s)
    return resource


def visible(resource: Any) -> bool:
    if not getattr(_describing, "on", False):
        return True
    visible_at = getattr(resource, VISIBLE_AT, None)
    return visible_at is None or time.monotonic() >= visible_at


def _hidden_ids(requested: Any, resources: dict[str, Any]) -> list[str]:
    return [i for i in (requested or []) if i in resources and not visible(resources[i])]


def _resources(backend: Any) -> dict[str, Any]:
    found: dict[str, Any] = {**backend.amis, **backend.volumes, **backend.snapshots}
    found.update((i.id, i) for r in backend.reservations.values() for i in r.instances)
    return found


def _creating_handler(original: Callable[..., Any]) -> Callable[..., Any]:
    """Stamp whatever the request created (found by difference: other models replace moto's creators)."""

    def handle(self: Any) -> Any:
        backend = self.ec2_backend
        before = set(_resources(backend))
        try:
            return original(self)
        finally:
            for resource_id, resource in _resources(backend).items():
                if resource_id not in before:
                    stamp(resource)

    return handle


def _describing_handler(original: Callable[..., Any]) -> Callable[..., Any]:
    def handle(self: Any) -> Any:
        _describing.on = True
        try:
            return original(self)
        finally:
            _describing.on = False

    return handle


def _patch_backend() -> None:
    from moto.ec2.exceptions import (
        InvalidAMIIdError,
        InvalidInstanceIdError,
        InvalidSnapshotIdError,
        InvalidVolumeIdError,
    )
    from moto.ec2.models import EC2Backend

    by_ids: Callable[..., Any] = EC2Backend.get_reservations_by_instance_ids
    all_reservations: Callable[..., Any] = EC2Backend.all_reservations
    describe_volumes: Callable[..., Any] = EC2Backend.describe_volumes
    describe_snapshots: Callable[..., Any] = EC2Backend.describe_snapshots
    describe_images: Callable[..., Any] = EC2Backend.describe_images

    def _instances(self: Any) -> dict[str, Any]:
        return {i.id: i for r in self.reservations.values() for i in r.instances}

    def _without_hidden(reservations: list[Any]) -> list[Any]:
        shown = []
        for reservation in reservations:
            instances = [i for i in reservation.instances if visible(i)]
            if instances:
                reservation.instances = instances  # moto hands out shallow copies of its reservations
                shown.append(reservation)
        return shown

    def get_reservations_by_instance_ids(self: Any, instance_ids: list[str], filters: Any = None) -> Any:
        hidden = _hidden_ids(instance_ids, _instances(self))
        if hidden:
            raise InvalidInstanceIdError(hidden)
        return by_ids(self, instance_ids, filters)

    def all_reservations_visible(self: Any, filters: Any = None) -> Any:
        return _without_hidden(all_reservations(self, filters))

    def describe_volumes_visible(self: Any, volume_ids: Any = None, *args: Any, **kwargs: Any) -> Any:
        hidden = _hidden_ids(volume_ids, self.volumes)
        if hidden:
            raise InvalidVolumeIdError(hidden[0])
        return [v for v in describe_volumes(self, volume_ids, *args, **kwargs) if visible(v)]

    def describe_snapshots_visible(self: Any, snapshot_ids: Any = None, *args: Any, **kwargs: Any) -> Any:
        if _hidden_ids(snapshot_ids, self.snapshots):
            raise InvalidSnapshotIdError()
        return [s for s in describe_snapshots(self, snapshot_ids, *args, **kwargs) if visible(s)]

    def describe_images_visible(self: Any, ami_ids: Any = None, *args: Any, **kwargs: Any) -> Any:
        hidden = _hidden_ids(ami_ids, self.amis)
        if hidden:
            raise InvalidAMIIdError(hidden)
        return [i for i in describe_images(self, ami_ids, *args, **kwargs) if visible(i)]

    setattr(EC2Backend, "get_reservations_by_instance_ids", get_reservations_by_instance_ids)  # noqa: B010
    setattr(EC2Backend, "all_reservations", all_reservations_visible)  # noqa: B010
    setattr(EC2Backend, "describe_volumes", describe_volumes_visible)  # noqa: B010
    setattr(EC2Backend, "describe_snapshots", describe_snapshots_visible)  # noqa: B010
    setattr(EC2Backend, "describe_images", describe_images_visible)  # noqa: B010


def _patch_responses() -> None:
    from moto.ec2.responses.amis import AmisResponse
    from moto.ec2.responses.elastic_block_store import ElasticBlockStore
    from moto.ec2.responses.instances import InstanceResponse

    for cls, name in (
        (InstanceResponse, "run_instances"),
        (ElasticBlockStore, "create_volume"),
        (ElasticBlockStore, "create_snapshot"),
        (ElasticBlockStore, "create_snapshots"),
        (ElasticBlockStore, "copy_snapshot"),
        (AmisResponse, "register_image"),
        (AmisResponse, "create_image"),
        (AmisResponse, "copy_image"),
    ):
        setattr(cls, name, _creating_handler(getattr(cls, name)))
    for cls, name in (
        (InstanceResponse, "describe_instances"),
        (ElasticBlockStore, "describe_volumes"),
        (ElasticBlockStore, "describe_snapshots"),
        (AmisResponse, "describe_images"),
    ):
        setattr(cls, name, _describing_handler(getattr(cls, name)))


def apply() -> None:
    from moto.ec2.models import EC2Backend

    if getattr(EC2Backend, _MARK, False):
        return
    _patch_backend()
    _patch_responses()
    setattr(EC2Backend, _MARK, True)
