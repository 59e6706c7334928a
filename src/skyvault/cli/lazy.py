"""A command group that imports a command's module only when that command runs.

``skyvault --help`` lists the commands from a table of names and one-line helps, and ``--version`` needs no
command at all: neither imports boto3, SQLAlchemy or pydantic, so both answer at once. When a command runs (or
its own ``--help`` is asked for), its module is imported and registers itself on a scratch Typer exactly as it
would on the root app, so the command's names, options and help are the module's own.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from difflib import get_close_matches
from typing import TYPE_CHECKING, ClassVar

import typer
from typer.core import TyperCommand, TyperGroup

if TYPE_CHECKING:
    from typer._click import Command, Context, HelpFormatter


@dataclass(frozen=True)
class LazyCommand:
    """One top-level command, before its module is imported."""

    help: str  # the first paragraph of the command's help: what ``skyvault --help`` lists
    target: str  # "module:attribute": a Typer app added under the command's name, or a ``register(root)`` function
    needs: tuple[str, ...] = ()  # modules imported first, for what importing them registers

    def install(self, name: str, root: typer.Typer) -> None:
        for module in self.needs:
            importlib.import_module(module)
        module_name, attribute = self.target.split(":")
        registrar = getattr(importlib.import_module(module_name), attribute)
        if isinstance(registrar, typer.Typer):
            root.add_typer(registrar, name=name)
        else:
            registrar(root)


def listed_help(command: Command) -> str:
    """The help text ``--help`` of the group lists for the command (its first paragraph)."""
    return inspect.cleandoc(command.short_help or command.help or "").split("\n\n")[0]


class LazyGroup(TyperGroup):
    """Subclass it with ``lazy_commands`` set, and pass the subclass as ``typer.Typer(cls=...)``."""

    lazy_commands: ClassVar[Mapping[str, LazyCommand]] = {}
    _listing = False

    def list_commands(self, ctx: Context) -> list[str]:
        loaded = [name for name in super().list_commands(ctx) if name not in self.lazy_commands]
        return [*self.lazy_commands, *loaded]

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        # The listing needs each command's name and help only: it gets stand-ins instead of imported modules.
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        entry = self.lazy_commands.get(cmd_name)
        if entry is None or cmd_name in self.commands:
            return super().get_command(ctx, cmd_name)
        if self._listing:
            return TyperCommand(cmd_name, help=entry.help)
        return self.load(ctx, cmd_name)

    def resolve_command(self, ctx: Context, args: list[str]) -> tuple[str | None, Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except typer.TyperException as error:
            # typer suggests a near name among the commands loaded so far: suggest among all the listed ones.
            message = getattr(error, "message", None)
            if self.suggest_commands and args and isinstance(message, str) and "Did you mean" not in message:
                matches = get_close_matches(args[0], self.list_commands(ctx))
                if matches:
                    suggestions = ", ".join(repr(match) for match in matches)
                    setattr(error, "message", f"{message.rstrip('.')}. Did you mean {suggestions}?")  # noqa: B010
            raise

    def load(self, ctx: Context, cmd_name: str) -> Command | None:
        """Import the command's module and keep every listed command that its registration made."""
        scratch = typer.Typer()
        self.lazy_commands[cmd_name].install(cmd_name, scratch)
        registered = typer.main.get_group(scratch)
        for name in registered.list_commands(ctx):
            command = registered.get_command(ctx, name)
            if command is not None and name in self.lazy_commands and name not in self.commands:
                self.add_command(command, name)
        return self.commands.get(cmd_name)
