"""User YAML (recipes, device profiles, device inventories): safe tags only, and no aliases either way.

YAML aliases let a 400-byte file expand into gigabytes ("billion laughs": an alias of a list of aliases of ...);
edgekit's files never need them, so an alias is refused where it appears instead of expanded.
"""

from __future__ import annotations

from typing import Any

import yaml


class _Alias(Exception):
    def __init__(self, name: str, line: int):
        super().__init__(name)
        self.name, self.line = name, line


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _Alias(event.anchor, event.start_mark.line + 1)
        return super().compose_node(parent, index)


def load_yaml(text: str, what: str, error: type[Exception]) -> Any:
    """Parse ``text``; ``error`` (one line, naming ``what``) for invalid YAML or any alias."""
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except _Alias as exc:
        raise error(f"{what} uses the YAML alias *{exc.name} (line {exc.line}); aliases can expand a small file "
                    "without bound, so edgekit refuses them: write the values out") from None
    except yaml.YAMLError as exc:
        raise error(f"{what} is not valid YAML: {str(exc).splitlines()[0]}") from None


class _NoAliasDumper(yaml.SafeDumper):
    def ignore_aliases(self, data) -> bool:
        return True


def dump_yaml(data: Any) -> str:
    """YAML that :func:`load_yaml` reads back: an object that appears twice is written out twice, never aliased."""
    return yaml.dump(data, Dumper=_NoAliasDumper, sort_keys=False)
