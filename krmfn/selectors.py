"""Selecting workloads the way kustomize's patch targets and Kubernetes' selectors do.

- `parse_label_selector`: the string form (`app=x,tier in (a,b),!canary`) that kustomize's
  `labelSelector` and `annotationSelector` take, as Kubernetes' `labels.Parse` reads it.
- `TargetSelector`: a role's `target: {group, version, kind, name, namespace,
  labelSelector, annotationSelector}`. As in kustomize, group, version, kind, name and
  namespace are regular expressions matched whole, and `name` / `namespace` also match the
  name and namespace a resource had before kustomize's `namePrefix` or `namespace`.
- `unmatched`: an API `LabelSelector` (`matchLabels`, `matchExpressions`) against a pod
  template's labels, to check that an edit leaves a workload's selector matching.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Protocol

from krmfn.krm.errors import FieldError

PREVIOUS_NAMES = "internal.config.kubernetes.io/previousNames"
PREVIOUS_NAMESPACES = "internal.config.kubernetes.io/previousNamespaces"
# kustomize compares the namespace of a resource without one as "default".
_DEFAULT_NAMESPACE = "default"

_LABEL_NAME = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_TOKEN = re.compile(r"\s*(==|!=|=|!|,|\(|\)|<|>|[^\s!=,()<>]+)")

Requirement = Callable[[Mapping[str, str]], bool]


class Selector(NamedTuple):
    """A parsed label selector: every requirement must hold."""

    text: str
    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(requirement(labels) for requirement in self.requirements)


def _check_key(key: str, text: str) -> str:
    prefix, slash, name = key.rpartition("/")
    valid = (
        0 < len(name) <= 63
        and _LABEL_NAME.fullmatch(name) is not None
        and (not slash or (len(prefix) <= 253 and _DNS_SUBDOMAIN.fullmatch(prefix) is not None))
    )
    if not valid:
        raise ValueError(f"{key!r} in {text!r} is not a valid label key")
    return key


def _check_value(value: str, text: str) -> str:
    if len(value) > 63 or not _LABEL_NAME.fullmatch(value):
        raise ValueError(f"{value!r} in {text!r} is not a valid label value")
    return value


class _Tokens:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _TOKEN.findall(text)
        if "".join(self.tokens) != "".join(text.split()):
            raise ValueError(f"{text!r} is not a label selector")
        self.at = 0

    def peek(self) -> str:
        return self.tokens[self.at] if self.at < len(self.tokens) else ""

    def take(self) -> str:
        token = self.peek()
        self.at += 1
        return token

    def expect(self, token: str) -> None:
        found = self.take()
        if found != token:
            shown = repr(found) if found else "the end"
            raise ValueError(f"expected {token!r} in {self.text!r}, found {shown}")

    def word(self, what: str) -> str:
        token = self.take()
        if not token or token in ("==", "!=", "=", "!", ",", "(", ")", "<", ">"):
            shown = repr(token) if token else "the end"
            raise ValueError(f"expected {what} in {self.text!r}, found {shown}")
        return token


def _values(tokens: _Tokens) -> frozenset[str]:
    tokens.expect("(")
    values = set()
    while True:
        token = tokens.peek()
        # An empty value is allowed: `key in (,a)` means "" or "a".
        values.add("" if token in (",", ")") else _check_value(tokens.take(), tokens.text))
        if tokens.peek() == ")":
            tokens.take()
            return frozenset(values)
        tokens.expect(",")


def _requirement(tokens: _Tokens) -> Requirement:
    text = tokens.text
    if tokens.peek() == "!":
        tokens.take()
        absent = _check_key(tokens.word("a label key"), text)
        return lambda labels: absent not in labels
    key = _check_key(tokens.word("a label key"), text)
    operator = tokens.peek()
    if operator in ("", ","):
        return lambda labels: key in labels
    tokens.take()
    if operator in ("=", "=="):
        value = _exact_value(tokens)
        return lambda labels: labels.get(key) == value
    if operator == "!=":
        other = _exact_value(tokens)
        return lambda labels: labels.get(key) != other
    if operator in ("in", "notin"):
        values = _values(tokens)
        if operator == "in":
            return lambda labels: key in labels and labels[key] in values
        return lambda labels: labels.get(key) not in values
    if operator in ("<", ">"):
        bound = tokens.word("a number")
        if not re.fullmatch(r"-?\d+", bound):
            raise ValueError(f"{bound!r} in {text!r} is not an integer")
        limit, greater = int(bound), operator == ">"
        return lambda labels: _compare(labels.get(key), limit, greater)
    raise ValueError(f"unknown operator {operator!r} in {text!r}")


def _exact_value(tokens: _Tokens) -> str:
    if tokens.peek() in ("", ","):
        return ""  # `key=` selects the empty value
    return _check_value(tokens.word("a label value"), tokens.text)


def _compare(value: str | None, limit: int, greater: bool) -> bool:
    if value is None or not re.fullmatch(r"-?\d+", value):
        return False
    return int(value) > limit if greater else int(value) < limit


def parse_label_selector(text: str) -> Selector:
    """Kubernetes' string form of a label selector; raises ValueError with the reason."""
    tokens = _Tokens(text)
    requirements = []
    if tokens.peek():
        requirements.append(_requirement(tokens))
        while tokens.peek():
            tokens.expect(",")
            requirements.append(_requirement(tokens))
    return Selector(text, tuple(requirements))


class Pattern(Protocol):
    def fullmatch(self, text: str) -> object: ...


def _whole(pattern: str, field: str) -> Pattern:
    """A target's regular expression, matched whole as kustomize matches it, with RE2 as
    kustomize (Go's regexp) does: linear in the text, so no pattern can hang a render,
    and with Go's syntax (no backreferences or lookarounds)."""
    import re2  # only a render with target regexes pays for it

    options = re2.Options()
    options.log_errors = False  # the error is a result, not a line of RE2's log
    try:
        compiled: Pattern = re2.compile(f"(?:{pattern})", options)
    except re2.error as exc:
        problem = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise FieldError(f"{pattern!r} is not a regular expression: {problem}", field) from None
    return compiled


def original_names(annotations: Mapping[str, str], current: str, key: str) -> tuple[str, ...]:
    """The current value and, from kustomize's record, the one it had first."""
    previous = annotations.get(key, "")
    first = previous.split(",", 1)[0] if previous else ""
    return (current, first) if first and first != current else (current,)


class TargetSelector(NamedTuple):
    """A role's `target`, compiled. `field` is where it was written (for messages)."""

    field: str
    spec: Mapping[str, str]
    group: Pattern | None
    version: Pattern | None
    kind: Pattern | None
    name: Pattern | None
    namespace: Pattern | None
    labels: Selector | None
    annotations: Selector | None

    @classmethod
    def compile(cls, spec: Mapping[str, str], field: str) -> TargetSelector:
        """Raises FieldError naming the field that is wrong."""

        def pattern(key: str) -> Pattern | None:
            value = spec.get(key)
            return _whole(value, f"{field}.{key}") if value else None

        def selector(key: str) -> Selector | None:
            value = spec.get(key)
            if not value:
                return None
            try:
                return parse_label_selector(value)
            except ValueError as exc:
                raise FieldError(str(exc), f"{field}.{key}") from None

        return cls(
            field,
            spec,
            pattern("group"),
            pattern("version"),
            pattern("kind"),
            pattern("name"),
            pattern("namespace"),
            selector("labelSelector"),
            selector("annotationSelector"),
        )

    @property
    def has_namespace(self) -> bool:
        return self.namespace is not None

    def selects(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str,
        labels: Mapping[str, str],
        annotations: Mapping[str, str],
    ) -> bool:
        group, _, version = api_version.rpartition("/")
        checks: list[tuple[Pattern | None, tuple[str, ...]]] = [
            (self.group, (group,)),
            (self.version, (version,)),
            (self.kind, (kind,)),
            (self.name, original_names(annotations, name, PREVIOUS_NAMES)),
            (
                self.namespace,
                tuple(
                    n or _DEFAULT_NAMESPACE
                    for n in original_names(annotations, namespace, PREVIOUS_NAMESPACES)
                ),
            ),
        ]
        for regex, values in checks:
            if regex is not None and not any(regex.fullmatch(v) for v in values):
                return False
        if self.labels is not None and not self.labels.matches(labels):
            return False
        return self.annotations is None or self.annotations.matches(annotations)

    def describe(self) -> str:
        """The target as the user wrote it, in flow style."""
        fields = ", ".join(f"{k}: {v}" for k, v in self.spec.items() if v)
        return f"{{{fields}}}"


def unmatched(selector: Any, labels: Mapping[str, str]) -> list[str]:
    """The label keys of an API LabelSelector (`matchLabels`, `matchExpressions`) whose
    requirement `labels` fails: [] when the selector selects them. A selector of another
    shape is left to the API server: it fails nothing here."""
    if not isinstance(selector, dict):
        return []
    failed = []
    match_labels = selector.get("matchLabels") or {}
    if isinstance(match_labels, dict):
        for key, value in match_labels.items():
            if labels.get(str(key)) != str(value):
                failed.append(str(key))
    for expression in selector.get("matchExpressions") or []:
        if not isinstance(expression, dict):
            continue
        key, operator = str(expression.get("key", "")), expression.get("operator")
        values = {str(v) for v in expression.get("values") or []}
        present = key in labels
        held = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }.get(str(operator), True)
        if not held:
            failed.append(key)
    return failed
