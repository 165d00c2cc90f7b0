"""What every staff API request body must be before its fields are looked at.

- No unknown keys: a misspelt "countires" silently ignored would publish to
  every country. The error names the key and the closest known one.
- No lone surrogates ("\\ud800"): Python's JSON parser lets them through, but
  they cannot be stored, mailed or even echoed back as UTF-8.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

from alerts.core.unknown_keys import unknown_keys_message


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


class ApiBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _known_keys_and_text(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data  # pydantic's own error names the type
        if _has_lone_surrogate(data):
            raise PydanticCustomError(
                "invalid_unicode", "text must be valid Unicode (it has a lone surrogate)"
            )
        known = [name for name in cls.model_fields] + [
            f.alias for f in cls.model_fields.values() if f.alias
        ]
        message = unknown_keys_message([str(k) for k in data], known)
        if message is not None:
            raise PydanticCustomError("unknown_key", message)
        return data
