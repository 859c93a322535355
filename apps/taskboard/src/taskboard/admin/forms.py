"""What an admin may send about a flag: the switch, the default and the simple rules."""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from taskboard.admin.service import SimpleRules

TargetTier = Literal["lite", "full"]

LABELS: Final = {
    "enabled": "switched on",
    "default": "the default",
    "tiers": "the tiers",
    "exclude_save_data": "leave out Save-Data",
    "rollout": "the rollout percentage",
}
"""How error messages name each field."""


DEFAULT_MESSAGE: Final = "Choose whether anyone else gets the enhancement: on or off."
TIER_MESSAGE: Final = (
    "Choose the tiers from lite and full; the core tier runs no script, so it never gets an "
    "enhancement."
)
ROLLOUT_MESSAGE: Final = "Enter the rollout as a whole number from 0 to 100."


def _tiers(value: Any) -> Any:
    """Checkboxes of one name arrive as nothing, one value or a list: always a list here."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or any(v not in ("lite", "full") for v in value):
        raise ValueError(TIER_MESSAGE)
    return value


def _on_off(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("on", "off"):
        return value.strip().lower() == "on"
    raise ValueError(DEFAULT_MESSAGE)


def _rollout(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(ROLLOUT_MESSAGE)
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        raise ValueError(ROLLOUT_MESSAGE)
    if not 0 <= number <= 100:
        raise ValueError(ROLLOUT_MESSAGE)
    return number


class FlagForm(BaseModel):
    """One flag's settings from the admin page (a plain form) or a JSON body.

    An unticked checkbox is not sent at all, so ``enabled`` and ``exclude_save_data`` are false
    unless present.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    enabled: bool = False
    default: Annotated[bool, BeforeValidator(_on_off)]
    tiers: Annotated[list[TargetTier], BeforeValidator(_tiers)] = Field(default_factory=list)
    exclude_save_data: bool = False
    rollout: Annotated[int, BeforeValidator(_rollout)]

    def rules(self) -> SimpleRules:
        return SimpleRules(
            enabled=self.enabled,
            default=self.default,
            tiers=tuple(self.tiers),
            exclude_save_data=self.exclude_save_data,
            rollout=float(self.rollout),
        )
