"""Form state: what a person typed, and what is wrong with it, independent of any framework.

A form is a Pydantic model. When validation fails, :func:`field_errors` turns Pydantic's errors into
:class:`FieldError` records that every representation can use: the HTML page links each message to
its field, the fragment re-renders the form, and the JSON problem document lists them with a JSON
pointer (RFC 6901) to the offending member.

Example::

    try:
        TaskForm.model_validate(raw)
    except ValidationError as exc:
        state = FormState(values=raw, errors=field_errors(exc))
        state.error("title").message   # 'Enter a title.'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

FORM_ERROR_FIELD = ""
"""The ``field`` of an error about the whole form rather than one field (pointer ``""``)."""

UNSTORABLE_TEXT = (
    "{Label} contains a character that cannot be stored ({character}); remove it and send the "
    "form again."
)
"""A text field holding a character no database stores in text: NUL (PostgreSQL refuses it),
or half of a UTF-16 surrogate pair (no UTF-8 encodes one). Code ``text-unstorable``."""

FORM_SENT_WITH_OTHER_VALUES = (
    "You already sent this form once, with other values, and that was saved. To send these "
    "values too, check them and submit the form again."
)
"""A browser's form re-sent with its one-time key but changed values (Back, edit, submit): the
form is shown again with a fresh key. Code ``idempotency-key-reused``."""

_MESSAGES: dict[str, str] = {
    "missing": "Enter {label}.",
    "string_too_short": "{Label} must be at least {min_length} characters.",
    "string_too_long": "{Label} must be at most {max_length} characters.",
    "date_from_datetime_parsing": "Enter {label} as a date like 2026-12-31.",
    "date_parsing": "Enter {label} as a date like 2026-12-31.",
    "date_from_datetime_inexact": "Enter {label} as a date like 2026-12-31.",
    "int_parsing": "Enter {label} as a whole number, like 3.",
    "float_parsing": "Enter {label} as a number, like 2.5.",
    "bool_parsing": "Enter {label} as yes or no.",
    "literal_error": "Choose {label} from: {expected}.",
    "enum": "Choose {label} from: {expected}.",
    "extra_forbidden": "Remove {label}: it is not a field of this form.",
    "value_error": "{detail}",
    "assertion_error": "{detail}",
    "string_pattern_mismatch": "{Label} is not in the expected format.",
    "greater_than_equal": "{Label} must be at least {ge}.",
    "less_than_equal": "{Label} must be at most {le}.",
    "greater_than": "{Label} must be more than {gt}.",
    "less_than": "{Label} must be less than {lt}.",
    "model_type": "Send an object with the form's fields.",
    "dict_type": "Send an object with the form's fields.",
    "string_type": "Enter {label} as text.",
    "json_invalid": "The body is not valid JSON.",
}


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field.

    ``field`` is the form field's name (dotted for nested models), ``pointer`` the JSON pointer to
    the same member in a JSON body, ``code`` a stable machine code (Pydantic's error type).
    """

    field: str
    pointer: str
    message: str
    code: str

    def as_problem_member(self) -> dict[str, str]:
        """The entry of a problem document's ``errors`` list."""
        return {
            "pointer": self.pointer,
            "field": self.field,
            "detail": self.message,
            "code": self.code,
        }


@dataclass(frozen=True, slots=True)
class FormState:
    """A form as the person last saw it: submitted (or initial) values and the errors to show."""

    values: Mapping[str, Any] = field(default_factory=dict)
    errors: tuple[FieldError, ...] = ()

    @property
    def has_errors(self) -> bool:
        return bool(self.errors)

    def value(self, name: str) -> str:
        """The value to put back in the field: what was submitted, as text; ``""`` when none."""
        raw = self.values.get(name)
        if raw is None:
            return ""
        if isinstance(raw, bool):
            return "on" if raw else ""
        if isinstance(raw, list | tuple):
            return str(raw[-1]) if raw else ""
        return str(raw)

    def error(self, name: str) -> FieldError | None:
        """The first error for the field ``name``, or ``None``."""
        for error in self.errors:
            if error.field == name:
                return error
        return None

    @property
    def form_errors(self) -> tuple[FieldError, ...]:
        """Errors about the whole form, not one field (for example an expired form)."""
        return tuple(e for e in self.errors if e.field == FORM_ERROR_FIELD)

    def with_error(self, message: str, code: str) -> FormState:
        """A copy with one more error about the whole form, listed first."""
        extra = FieldError(FORM_ERROR_FIELD, "", message, code)
        return FormState(values=self.values, errors=(extra, *self.errors))


def _label(name: str) -> str:
    return name.rsplit(".", 1)[-1].replace("_", " ")


def _pointer(location: Iterable[int | str]) -> str:
    parts = (str(p).replace("~", "~0").replace("/", "~1") for p in location)
    return "".join("/" + p for p in parts)


def field_errors(
    exc: ValidationError, labels: Mapping[str, str] | None = None
) -> tuple[FieldError, ...]:
    """Turn a Pydantic ``ValidationError`` into field errors with messages a person can act on.

    ``labels`` maps field names to the words the form shows (``{"due_on": "the due date"}``);
    without one, the field name with spaces is used. Errors for the whole body (an empty location)
    get the field ``""``.
    """
    labels = labels or {}
    result: list[FieldError] = []
    for item in exc.errors(include_url=False):
        loc = tuple(p for p in item["loc"] if p not in ("body",))
        name = ".".join(str(p) for p in loc)
        label = labels.get(name, _label(name) if name else "a value")
        ctx: dict[str, Any] = dict(item.get("ctx") or {})
        template = _MESSAGES.get(item["type"])
        if item["type"] == "string_too_short" and ctx.get("min_length") == 1:
            template = _MESSAGES["missing"]  # "at least 1 characters" is how machines say "empty"
        detail = str(ctx.get("error", item["msg"]))
        if template is None:
            message = f"{label[:1].upper()}{label[1:]}: {item['msg']}."
        else:
            values = {k: v for k, v in ctx.items() if isinstance(v, str | int | float)}
            try:
                message = template.format(
                    label=label, Label=label[:1].upper() + label[1:], detail=detail, **values
                )
            except (KeyError, IndexError, ValueError):
                message = f"{label[:1].upper()}{label[1:]}: {item['msg']}."
        result.append(FieldError(name, _pointer(loc), message, str(item["type"])))
    return tuple(result)
