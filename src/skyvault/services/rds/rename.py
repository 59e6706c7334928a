"""The rename-swap of ``restore --target original`` (RDS, Aurora, DocumentDB and Redshift alike).

A rename (``ModifyDBInstance``/``ModifyDBCluster NewDB...Identifier``, Redshift ``ModifyCluster
NewClusterIdentifier``) is asynchronous: the call returns at once, the resource keeps its old identifier (status
``renaming``) until the new one takes effect, and until then the new identifier answers not-found and the old
one cannot be reused. So the swap waits until the new name answers and the old one is gone before restoring
under the old name, and when anything after the rename fails it renames the original back (and waits again),
so production is never left renamed with nothing in its place.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TypeVar

from skyvault.errors import NotFoundError, SkyvaultError
from skyvault.services.rds.waiting import Progress, Status, WaitPolicy, wait_for

T = TypeVar("T")
Finder = Callable[[str], str | None]  # identifier -> its status, or None when AWS answers not-found
Renamer = Callable[[str, str], None]  # (current, new): request the rename
RENAME_FIRST_POLL_S = 2.0


def rename_policy(policy: WaitPolicy) -> WaitPolicy:
    """Renames take seconds to minutes: look soon, then back off to the usual interval."""
    return policy if policy.first_poll_s else dataclasses.replace(policy, first_poll_s=RENAME_FIRST_POLL_S)


def wait_renamed(find: Finder, old: str, new: str, *, what: str, policy: WaitPolicy, progress: Progress) -> None:
    """Wait until ``new`` answers and is available (then ``old`` is free); not-found meanwhile is expected."""

    def poll() -> Status:
        state = find(new)
        if state is None:
            if find(old) is not None:
                return Status("renaming")
            state = find(new)  # the rename may have taken effect between the two looks
            if state is None:
                raise NotFoundError(f"{what} {old} is gone and {new} does not exist: the rename did not complete")
        return Status(state)

    wait_for(poll, what=f"rename of {what} {old} to {new}", policy=rename_policy(policy), progress=progress)


def rename(rename_to: Renamer, find: Finder, old: str, new: str, *, what: str, policy: WaitPolicy,
           progress: Progress) -> str:  # fmt: skip
    """Rename ``old`` to ``new`` and wait until it has taken effect; idempotent when it already has."""
    if find(old) not in (None, "renaming"):  # a rename already requested (a resumed step) is only waited for
        rename_to(old, new)
    wait_renamed(find, old, new, what=what, policy=policy, progress=progress)
    return new


def swap(
    restore: Callable[[], T],
    *,
    rename_to: Renamer,
    find: Finder,
    original: str,
    aside: str,
    what: str,
    policy: WaitPolicy,
    progress: Progress,
) -> T:
    """Run ``restore`` (under ``original``, renamed to ``aside`` before); on failure rename the original back."""
    try:
        return restore()
    except Exception as exc:
        note = _roll_back(rename_to, find, original, aside, what=what, policy=policy, progress=progress)
        if isinstance(exc, SkyvaultError):
            exc.hint = f"{exc.hint}; {note}" if exc.hint else note
        else:
            exc.add_note(note)
        raise


def _roll_back(rename_to: Renamer, find: Finder, original: str, aside: str, *, what: str, policy: WaitPolicy,
               progress: Progress) -> str:  # fmt: skip
    if find(original) is not None:
        return (
            f"the original {what} is kept as {aside}; {original} now holds the unfinished restore: check or delete "
            f"it, then rename {aside} back to {original}"
        )
    progress(f"restore failed: renaming {aside} back to {original}")
    try:
        rename(rename_to, find, aside, original, what=what, policy=policy, progress=progress)
    except SkyvaultError as failed:
        return f"renaming the original back failed ({failed.message}): it is kept as {aside}"
    return f"the original {what} was renamed back to {original}, unchanged"
