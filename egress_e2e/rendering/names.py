"""Kubernetes' name rules (DNS-1123 label and subdomain, DNS-1035 label), with the API server's
own messages.

Source: kubernetes/apimachinery pkg/util/validation/validation.go (IsDNS1123Label,
IsDNS1123Subdomain, IsDNS1035Label, IsQualifiedName, IsValidLabelValue, RegexError,
MaxLenError).
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
            found.append(self.regex_error())
        return found

    def regex_error(self) -> str:
        """RegexError's sentence for this rule (its double space before "or" included)."""
        shown = " or ".join(f"'{example}', " for example in self.examples)
        return f"{self.what} (e.g. {shown}regex used for validation is '{self.form}')"


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

_QUALIFIED: Final = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_WHAT: Final = ("must consist of alphanumeric characters, '-', '_' or '.', and must "
                          "start and end with an alphanumeric character")
QUALIFIED_NAME_PART: Final = NameRule(_QUALIFIED_WHAT, _QUALIFIED,
                                      ("MyName", "my.name", "123-abc"), 63)
LABEL_VALUE: Final = NameRule(
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character", f"({_QUALIFIED})?",
    ("MyValue", "my_value", "12345"), 63)


def qualified_name_errors(value: str) -> list[str]:
    """IsQualifiedName: an optional DNS-1123 subdomain prefix and '/', then a name part (label
    and annotation keys)."""
    parts = value.split("/")
    if len(parts) > 2:
        return [f"a qualified name {QUALIFIED_NAME_PART.regex_error()} with an optional DNS "
                "subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    found: list[str] = []
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            found.append("prefix part must be non-empty")
        else:
            found.extend(f"prefix part {message}" for message in DNS1123_SUBDOMAIN.errors(prefix))
    name = parts[-1]
    if not name:
        return [*found, "name part must be non-empty"]
    return [*found, *(f"name part {message}" for message in QUALIFIED_NAME_PART.errors(name))]


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
