"""Kubernetes' name rules (DNS-1123 label and subdomain, DNS-1035 label), with the API server's
own messages.

Source: kubernetes/apimachinery pkg/util/validation/validation.go (IsDNS1123Label,
IsDNS1123Subdomain, IsDNS1035Label, RegexError, MaxLenError).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class NameRule:
    what: str                    # the sentence before the examples
    form: str                    # the regular expression, as the message prints it
    examples: tuple[str, ...]
    max_length: int

    def errors(self, value: str) -> list[str]:
        """The API server's messages for ``value``; empty when it is a valid name."""
        found: list[str] = []
        if len(value) > self.max_length:
            found.append(f"must be no more than {self.max_length} characters")
        if not re.fullmatch(self.form, value):
            shown = " or ".join(f"'{example}', " for example in self.examples)
            found.append(f"{self.what} (e.g. {shown}regex used for validation is "
                         f"'{self.form}')")
        return found


_LABEL: Final = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL: Final = NameRule(
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character", _LABEL, ("my-name", "123-abc"), 63)
DNS1123_SUBDOMAIN: Final = NameRule(
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character",
    rf"{_LABEL}(\.{_LABEL})*", ("example.com",), 253)
DNS1035_LABEL: Final = NameRule(
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character",
    "[a-z]([-a-z0-9]*[a-z0-9])?", ("my-name", "abc-123"), 63)

# The kinds whose metadata.name the API server checks with a stricter rule than a DNS-1123
# subdomain (kubernetes/kubernetes pkg/apis/core/validation/validation.go: ValidateServiceName
# is NameIsDNS1035Label, ValidateNamespaceName is NameIsDNSLabel).
NAME_RULES: Final[dict[str, NameRule]] = {
    "Service": DNS1035_LABEL,
    "Namespace": DNS1123_LABEL,
}

def name_rule(kind: str) -> NameRule:
    """The rule ``metadata.name`` of ``kind`` must satisfy (custom resources: a subdomain,
    apiextensions-apiserver pkg/registry/customresource/validator.go)."""
    return NAME_RULES.get(kind, DNS1123_SUBDOMAIN)
