"""Tests for krmfn.gotemplate: Go-template actions rendered in a jinja2 sandbox."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from krmfn.config import Config
from krmfn.gotemplate import MAX_OUTPUT, TemplateError, has_actions, render
from krmfn.modelservice import Identity, ModelService, load

# qwen-svc in serving: modelName Qwen/Qwen2.5-7B, uri pvc://qwen-pvc/hub/qwen,
# authSecretName hf-creds.
PVC_VARS = {
    "ModelServiceName": "qwen-svc",
    "ModelServiceNamespace": "serving",
    "ModelName": "Qwen/Qwen2.5-7B",
    "SanitizedModelName": "qwen-qwen2-5-7b",
    "HFModelName": "",
    "ModelPath": "hub/qwen",
    "MountedModelPath": "/model-cache/hub/qwen",
    "AuthSecretName": "hf-creds",
    "DecodeDeploymentName": "qwen-svc-decode",
    "PrefillDeploymentName": "qwen-svc-prefill",
    "DecodeServiceName": "qwen-svc-service-decode",
    "PrefillServiceName": "qwen-svc-service-prefill",
    "EPPDeploymentName": "qwen-svc-epp",
    "EPPServiceName": "qwen-svc-epp-service",
    "InferencePoolName": "qwen-svc-inference-pool",
    "InferenceModelName": "qwen-svc",
    "Revision": "",
    "AdapterRoot": "",
    "AdapterNames": "",
    "LoraArgs": "",
}

# granite in llm: modelName ibm-granite/granite-3.3-2b-instruct,
# uri hf://ibm-granite/granite-3.3-2b-instruct, no authSecretName.
HF_VARS = {
    "ModelServiceName": "granite",
    "ModelServiceNamespace": "llm",
    "ModelName": "ibm-granite/granite-3.3-2b-instruct",
    "SanitizedModelName": "ibm-granite-granite-3-3-2b-instruct",
    "HFModelName": "ibm-granite/granite-3.3-2b-instruct",
    "ModelPath": "ibm-granite/granite-3.3-2b-instruct",
    "MountedModelPath": "/model-cache",
    "AuthSecretName": "",
    "DecodeDeploymentName": "granite-decode",
    "PrefillDeploymentName": "granite-prefill",
    "DecodeServiceName": "granite-service-decode",
    "PrefillServiceName": "granite-service-prefill",
    "EPPDeploymentName": "granite-epp",
    "EPPServiceName": "granite-epp-service",
    "InferencePoolName": "granite-inference-pool",
    "InferenceModelName": "granite",
    "Revision": "",
    "AdapterRoot": "",
    "AdapterNames": "",
    "LoraArgs": "",
}

PORTS = {"metrics": 9090, "vllm": 8200}

KNOWN = (
    "AdapterNames, AdapterRoot, AuthSecretName, DecodeDeploymentName, DecodeServiceName, "
    "EPPDeploymentName, EPPServiceName, HFModelName, InferenceModelName, InferencePoolName, "
    "LoraArgs, ModelName, ModelPath, ModelServiceName, ModelServiceNamespace, MountedModelPath, "
    "PrefillDeploymentName, PrefillServiceName, Revision, SanitizedModelName"
)


def r(text: str, variables: dict[str, str] | None = None) -> str:
    return render(text, PVC_VARS if variables is None else variables, PORTS)


def error(text: str, variables: dict[str, str] | None = None) -> TemplateError:
    with pytest.raises(TemplateError) as info:
        r(text, variables)
    return info.value


# --- variables -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PVC_VARS))
def test_every_variable_pvc(name: str) -> None:
    assert r(f"{{{{ .{name} }}}}") == PVC_VARS[name]


@pytest.mark.parametrize("name", sorted(HF_VARS))
def test_every_variable_hf(name: str) -> None:
    assert r(f"{{{{ .{name} }}}}", HF_VARS) == HF_VARS[name]


def test_the_variables_are_those_krmfn_gives_the_two_modelservices() -> None:
    """The tests render with PVC_VARS and HF_VARS: they must be what krmfn gives the
    ModelServices their comments describe, every variable and no other."""

    def variables(name: str, namespace: str, model: str, **artifacts: str) -> dict[str, str]:
        spec = {"routing": {"modelName": model}, "modelArtifacts": artifacts}
        loaded = load(Identity(name, namespace), {"spec": spec}, Config())
        assert isinstance(loaded, ModelService), loaded
        return loaded.variables()

    pvc = variables(
        "qwen-svc",
        "serving",
        "Qwen/Qwen2.5-7B",
        uri="pvc://qwen-pvc/hub/qwen",
        authSecretName="hf-creds",
    )
    hf = variables(
        "granite",
        "llm",
        "ibm-granite/granite-3.3-2b-instruct",
        uri="hf://ibm-granite/granite-3.3-2b-instruct",
    )
    assert (pvc, hf) == (PVC_VARS, HF_VARS)
    assert ", ".join(sorted(PVC_VARS)) == KNOWN


def test_typical_llm_d_args() -> None:
    model = '{{ default (print "/models/" .ModelPath) .HFModelName }}'
    assert r(model) == "/models/hub/qwen"
    assert r(model, HF_VARS) == "ibm-granite/granite-3.3-2b-instruct"
    assert r("--served-model-name={{ .ModelName }}") == "--served-model-name=Qwen/Qwen2.5-7B"
    assert r("{{ .MountedModelPath }}/config.json") == "/model-cache/hub/qwen/config.json"
    assert r('--port={{ "vllm" | getPort }}') == "--port=8200"
    choose = "{{- if .HFModelName }}{{ .HFModelName }}{{ else }}{{ .MountedModelPath }}{{ end }}"
    assert r(choose) == "/model-cache/hub/qwen"
    assert r(choose, HF_VARS) == "ibm-granite/granite-3.3-2b-instruct"


def test_text_without_actions_is_returned_unchanged_and_identical() -> None:
    text = "".join(["--max-model-len=", "8192 {% for x in range(10**9) %}{ {x} }"])
    assert r(text) is text
    assert has_actions(text) is False
    empty = ""
    assert r(empty) is empty


def test_has_actions() -> None:
    assert has_actions("{{ .X }}")
    assert has_actions("a{{")
    assert not has_actions("{ {")
    assert not has_actions("}}")


# --- functions -------------------------------------------------------------------------


def test_get_port() -> None:
    assert r('{{ getPort "metrics" }}') == "9090"
    assert r('{{ "metrics" | getPort }}') == "9090"
    assert r('{{ getPort "nope" }}') == "-1"
    assert render('{{ getPort "metrics" }}', PVC_VARS, {}) == "-1"


def test_default() -> None:
    assert r('{{ default "x" .HFModelName }}') == "x"
    assert r('{{ default "x" .ModelPath }}') == "hub/qwen"
    assert r('{{ .HFModelName | default "x" }}') == "x"
    assert r('{{ .AuthSecretName | default "none" }}', HF_VARS) == "none"
    assert r('{{ default "x" 0 }}') == "x"
    assert r('{{ default "x" false }}') == "x"
    assert r('{{ default "x" 3 }}') == "3"
    assert r('{{ default 7 "" }}') == "7"


def test_lower_upper_trim() -> None:
    assert r("{{ lower .ModelName }}") == "qwen/qwen2.5-7b"
    assert r("{{ .ModelName | upper }}") == "QWEN/QWEN2.5-7B"
    assert r('{{ trim "  \\t a b \\n" }}') == "a b"
    # Go's TrimSpace keeps the ASCII separators that Python's str.strip() removes.
    assert r('{{ trim "\\x1fa\\u00a0" }}') == "\x1fa"


def test_replace_sprig_argument_order() -> None:
    assert r('{{ replace "/" "--" .ModelName }}') == "Qwen--Qwen2.5-7B"
    assert r('{{ .ModelName | replace "/" "--" }}') == "Qwen--Qwen2.5-7B"
    assert r('{{ replace "" "-" "ab" }}') == "-a-b-"


def test_quote() -> None:
    assert r("{{ quote .ModelName }}") == '"Qwen/Qwen2.5-7B"'
    assert r('{{ quote "a" 3 true }}') == '"a" "3" "true"'
    assert r('{{ quote "a\\"b\\\\c\\n\\t\\x01\\x7fé\\u00a0\\u200b😀" }}') == (
        '"a\\"b\\\\c\\n\\t\\x01\\x7fé\\u00a0\\u200b😀"'
    )


def test_print_spacing_follows_go() -> None:
    assert r('{{ print "/models/" .ModelPath }}') == "/models/hub/qwen"
    assert r("{{ print 1 2 }}") == "1 2"
    assert r('{{ print "a" 1 2 "b" 3 }}') == "a1 2b3"
    assert r("{{ print true 1 }}") == "true 1"
    assert r("{{ print }}") == ""


def test_printf() -> None:
    assert r('{{ printf "%s-%d" .ModelServiceName 3 }}') == "qwen-svc-3"
    assert r('{{ printf "%v %v %v %v" "s" 1 true 1.5 }}') == "s 1 true 1.5"
    assert r('{{ printf "%q" .ModelName }}') == '"Qwen/Qwen2.5-7B"'
    assert r('{{ printf "100%%" }}') == "100%"
    assert r('{{ printf "[%5s][%-5s][%.2s][%5.1s]" "ab" "ab" "abc" "xyz" }}') == (
        "[   ab][ab   ][ab][    x]"
    )
    assert r('{{ printf "[%5d][%-5d][%05d][%.3d][%.0d]" 42 42 -42 7 0 }}') == (
        "[   42][42   ][-0042][007][]"
    )
    assert r('{{ printf "%06v" 12 }}') == "000012"
    assert r('{{ printf "%.3q" "abcdef" }}') == '"abc"'
    assert r('{{ printf "%d" (getPort "metrics") }}') == "9090"
    assert r('{{ "metrics" | getPort | printf "--port=%d" }}') == "--port=9090"
    assert r('{{ printf "%4096s" "" }}') == " " * 4096


def test_pipelines_pass_the_value_as_last_argument() -> None:
    assert (
        r('{{ .ModelName | lower | replace "/" "-" | replace "." "-" }}')
        == (PVC_VARS["SanitizedModelName"])
    )
    assert r('{{ .ModelName | printf "%s!" }}') == "Qwen/Qwen2.5-7B!"
    assert r('{{ .ModelServiceName | printf "%s-%s" "x" }}') == "x-qwen-svc"
    assert r("{{ (.ModelName | lower) | quote }}") == '"qwen/qwen2.5-7b"'
    assert r("{{ .ModelName|lower|quote }}") == '"qwen/qwen2.5-7b"'


def test_comparisons_and_logic() -> None:
    assert r('{{ eq .ModelServiceName "qwen-svc" }}') == "true"
    assert r('{{ eq .ModelServiceName "a" "b" "qwen-svc" }}') == "true"
    assert r('{{ ne .ModelServiceName "qwen-svc" }}') == "false"
    assert r('{{ eq (getPort "metrics") 9090 }}') == "true"
    assert r("{{ not .HFModelName }}") == "true"
    assert r('{{ and .ModelPath .HFModelName "x" }}') == ""
    assert r('{{ and .ModelPath "x" }}') == "x"
    assert r('{{ or .HFModelName .ModelPath "x" }}') == "hub/qwen"
    assert r("{{ or .HFModelName 0 }}") == "0"


def test_literals() -> None:
    assert r("{{ 42 }} {{ -7 }} {{ +3 }} {{ 0x1F }} {{ 017 }} {{ 1_000 }}") == "42 -7 3 31 15 1000"
    assert r("{{ 1.5 }} {{ 1.0 }} {{ .25 }} {{ 1e3 }} {{ 1e6 }} {{ 1234567.0 }}") == (
        "1.5 1 0.25 1000 1e+06 1.234567e+06"
    )
    assert r("{{ 0.0001 }} {{ 0.00001 }} {{ -2.5e-7 }} {{ 0.0 }}") == "0.0001 1e-05 -2.5e-07 0"
    assert r("{{ true }} {{ false }}") == "true false"
    assert r('{{ "a\\tb" }}|{{ "\\x41\\101\\u00e9\\U0001F600\\xc3\\xa9" }}') == "a\tb|AAé😀é"
    assert r('{{ `raw \\n {{ }} "q"` }}') == 'raw \\n {{ }} "q"'
    assert r("{{ `a\r\nb` }}") == "a\nb"
    assert r('{{ "}}" }}') == "}}"


# --- control flow ----------------------------------------------------------------------


def test_if_uses_go_truthiness() -> None:
    for cond, want in [
        ('""', "no"),
        ('"false"', "yes"),
        ('"0"', "yes"),
        ("0", "no"),
        ("1", "yes"),
        ("0.0", "no"),
        ("false", "no"),
        ("true", "yes"),
        (".HFModelName", "no"),
        (".ModelPath", "yes"),
        ('getPort "nope"', "yes"),
    ]:
        assert r(f"{{{{ if {cond} }}}}yes{{{{ else }}}}no{{{{ end }}}}") == want, cond


def test_if_else_if_chain() -> None:
    chain = (
        '{{ if eq .ModelServiceName "a" }}A'
        '{{ else if eq .ModelServiceName "qwen-svc" }}Q'
        "{{ else if .ModelPath }}P"
        "{{ else }}E{{ end }}"
    )
    assert r(chain) == "Q"
    assert r(chain, HF_VARS) == "P"
    assert r("{{ if .HFModelName }}x{{ end }}") == ""
    assert r("{{ if .HFModelName }}x{{ else if .AuthSecretName }}y{{ end }}") == "y"


def test_nested_if() -> None:
    text = "{{ if .ModelPath }}[{{ if .HFModelName }}hf{{ else }}pvc{{ end }}]{{ end }}"
    assert r(text) == "[pvc]"
    assert r(text, HF_VARS) == "[hf]"


def test_trim_markers() -> None:
    assert r("a  \n {{- .ModelServiceName -}} \n\t b") == "aqwen-svcb"
    assert r("a {{- .ModelServiceName }} b") == "aqwen-svc b"
    assert r("a {{ .ModelServiceName -}} b") == "a qwen-svcb"
    assert r("x\n  {{- if .ModelPath }}\n  y\n  {{- end }}\n") == "x\n  y\n"
    # A dash not followed by a space is a negative number, not a trim marker.
    assert r("a {{-3}} b") == "a -3 b"
    assert r("a {{ 3 -}} b") == "a 3b"
    assert r("a {{ .ModelServiceName -}}") == "a qwen-svc"


def test_comments() -> None:
    assert r("a{{/* note {{ .Nope }} */}}b") == "ab"
    assert r("a {{- /* note */ -}} b") == "ab"


def test_go_escape_leaves_braces_alone() -> None:
    assert r('{{"{{"}} .Messages {{"}}"}}') == "{{ .Messages }}"
    chat = '{{"{%"}} for m in messages {{"%}"}}{{"{{"}} m.content {{"}}"}}{{"{%"}} endfor {{"%}"}}'
    assert r(chat) == "{% for m in messages %}{{ m.content }}{% endfor %}"


# --- errors ----------------------------------------------------------------------------


def test_unknown_variable_lists_known_ones() -> None:
    err = error("--model={{ .NoSuchVar }}")
    assert (
        err.message
        == f"unknown variable .NoSuchVar in {{{{ .NoSuchVar }}}}; known variables: {KNOWN}"
    )
    assert err.action == "{{ .NoSuchVar }}"
    assert str(err) == err.message


def test_unknown_variable_even_in_a_branch_not_taken() -> None:
    err = error("{{ if false }}{{ .Typo }}{{ end }}")
    assert err.message.startswith("unknown variable .Typo in {{ .Typo }}; known variables: ")


def test_unknown_variable_keeps_trim_markers_in_action() -> None:
    err = error("a {{- lower .Nope -}} b")
    assert err.action == "{{- lower .Nope -}}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # unknown names
        ("{{ foo .ModelName }}", 'unknown function "foo" in {{ foo .ModelName }}'),
        ("{{ .ModelName | foo }}", 'unknown function "foo" in {{ .ModelName | foo }}'),
        ("{{ self }}", 'unknown function "self" in {{ self }}'),
        ("{{ lipsum }}", 'unknown function "lipsum" in {{ lipsum }}'),
        # arity and types
        (
            '{{ lower "a" "b" }}',
            'wrong number of arguments for lower: want 1, got 2 in {{ lower "a" "b" }}',
        ),
        ("{{ lower }}", "wrong number of arguments for lower: want 1, got 0 in {{ lower }}"),
        (
            "{{ print lower }}",
            "wrong number of arguments for lower: want 1, got 0 in {{ print lower }}",
        ),
        (
            '{{ "a" | default "b" "c" }}',
            'wrong number of arguments for default: want 2, got 3 in {{ "a" | default "b" "c" }}',
        ),
        (
            "{{ quote }}",
            "wrong number of arguments for quote: want at least 1, got 0 in {{ quote }}",
        ),
        (
            "{{ lower 3 }}",
            "wrong type for argument 1 of lower: want string, got int in {{ lower 3 }}",
        ),
        (
            '{{ getPort "metrics" | upper }}',
            "wrong type for argument 1 of upper: want string, got int"
            ' in {{ getPort "metrics" | upper }}',
        ),
        (
            '{{ replace "a" 1 .ModelName }}',
            "wrong type for argument 2 of replace: want string, got int"
            ' in {{ replace "a" 1 .ModelName }}',
        ),
        (
            "{{ getPort true }}",
            "wrong type for argument 1 of getPort: want string, got bool in {{ getPort true }}",
        ),
        (
            "{{ trim 1.5 }}",
            "wrong type for argument 1 of trim: want string, got float64 in {{ trim 1.5 }}",
        ),
        (
            '{{ eq 1 "1" }}',
            'incompatible types for comparison: int and string in {{ eq 1 "1" }}',
        ),
        # printf
        (
            '{{ printf "%999999999s" "x" }}',
            'printf: width 999999999 exceeds 4096 in {{ printf "%999999999s" "x" }}',
        ),
        (
            '{{ printf "%.5000s" "x" }}',
            'printf: precision 5000 exceeds 4096 in {{ printf "%.5000s" "x" }}',
        ),
        (
            '{{ printf "%d" "x" }}',
            'printf: %d needs an integer, got string in {{ printf "%d" "x" }}',
        ),
        (
            '{{ printf "%s" 3 }}',
            'printf: %s needs a string, got int in {{ printf "%s" 3 }}',
        ),
        (
            '{{ printf "%s %s" "x" }}',
            'printf: missing argument for %s in {{ printf "%s %s" "x" }}',
        ),
        (
            '{{ printf "%s" "x" "y" }}',
            'printf: format uses 1 argument(s) but got 2 in {{ printf "%s" "x" "y" }}',
        ),
        (
            '{{ printf "%x" 3 }}',
            'printf: unsupported verb "%x" (supported: %s %d %v %q %%) in {{ printf "%x" 3 }}',
        ),
        (
            '{{ printf "%*d" 3 4 }}',
            'printf: unsupported verb "%*" (supported: %s %d %v %q %%) in {{ printf "%*d" 3 4 }}',
        ),
        ('{{ printf "%+d" 3 }}', 'printf: unsupported flag "+" in {{ printf "%+d" 3 }}'),
        ('{{ printf "50%" }}', 'printf: incomplete verb at end of format in {{ printf "50%" }}'),
        (
            '{{ printf "%05s" "x" }}',
            'printf: the 0 flag needs an integer argument in {{ printf "%05s" "x" }}',
        ),
        # syntax
        ("a {{ .ModelName", "unclosed action in {{ .ModelName"),
        ("{{ .ModelName }", "unexpected character '}' in {{ .ModelName }"),
        ('{{ "abc }}', 'unterminated quoted string in {{ "abc }}'),
        ('{{ "a\nb" }}', 'unterminated quoted string in {{ "a\nb" }}'),
        ("{{ `abc }}", "unterminated raw quoted string in {{ `abc }}"),
        ('{{ "a\\q" }}', 'bad escape sequence "\\q" in {{ "a\\q" }}'),
        ('{{ "\\x4" }}', 'bad escape sequence "\\x4" in {{ "\\x4" }}'),
        ('{{ "\\ud800" }}', 'bad escape sequence "\\ud800" in {{ "\\ud800" }}'),
        ("{{ 12abc }}", 'bad number syntax "12abc" in {{ 12abc }}'),
        ("{{ 089 }}", 'bad number syntax "089" in {{ 089 }}'),
        ("{{ - }}", 'bad number syntax "-" in {{ - }}'),
        (
            "{{ 99999999999999999999 }}",
            'number out of range "99999999999999999999" in {{ 99999999999999999999 }}',
        ),
        ("{{ # }}", "unexpected character '#' in {{ # }}"),
        ("{{ 7*7 }}", "unexpected character '*' in {{ 7*7 }}"),
        ("{{ .ModelName) }}", 'unexpected ")" in {{ .ModelName) }}'),
        ("{{ (.ModelName }}", "unclosed left paren in {{ (.ModelName }}"),
        ("{{ }}", "missing value for command in {{ }}"),
        ("{{-  -}}", "missing value for command in {{-  -}}"),
        # As in Go, the dash of "{{- " cannot also start " -}}".
        ("{{- -}}", 'bad number syntax "-" in {{- -}}'),
        ("{{ () }}", "missing value for command in {{ () }}"),
        ("{{ .ModelName | }}", "missing value for command in {{ .ModelName | }}"),
        ("{{ | lower }}", "missing value for command in {{ | lower }}"),
        ("{{ lower(.ModelName) }}", "missing space before ( in {{ lower(.ModelName) }}"),
        ('{{ lower"a" }}', 'missing space before "a" in {{ lower"a" }}'),
        (
            "{{ .ModelName .ModelPath }}",
            "can't give arguments to .ModelName, which is not a function"
            " in {{ .ModelName .ModelPath }}",
        ),
        (
            '{{ (.ModelName) "x" }}',
            'can\'t give arguments to (...), which is not a function in {{ (.ModelName) "x" }}',
        ),
        (
            "{{ .ModelName | .ModelPath }}",
            "can't pipe into .ModelPath, which is not a function in {{ .ModelName | .ModelPath }}",
        ),
        ("{{/* x */ }}", "comment ends before closing delimiter in {{/* x */ }}"),
        ("{{/* x }}", "unclosed comment in {{/* x }}"),
        ("{{ 'a' }}", "character constants are not supported in {{ 'a' }}"),
        ("{{ .X = 1 }}", "assignment is not supported in {{ .X = 1 }}"),
        # unsupported Go features
        (
            "{{ .ModelName.Foo }}",
            "unsupported nested field .ModelName.Foo in {{ .ModelName.Foo }};"
            " only single names like .ModelName are supported",
        ),
        (
            "{{ (lower .ModelName).Foo }}",
            "unsupported field access .Foo on a value in {{ (lower .ModelName).Foo }}",
        ),
        ("{{ . }}", 'unsupported "." in {{ . }}; use a variable like .ModelName'),
        (
            "{{ $x := .ModelName }}",
            "unsupported variable $x in {{ $x := .ModelName }};"
            " only variables like .ModelName are supported",
        ),
        (
            "{{ $ }}",
            "unsupported variable $ in {{ $ }}; only variables like .ModelName are supported",
        ),
        ("{{ nil }}", "nil is not supported in {{ nil }}"),
        ("{{ print if }}", 'unexpected keyword "if" in {{ print if }}'),
        # if / else / end structure
        ("{{ if .ModelPath }}x", "if without end in {{ if .ModelPath }}"),
        ("{{ end }}", "end without if in {{ end }}"),
        ("x{{ else }}y", "else without if in {{ else }}"),
        (
            "{{ if .ModelPath }}{{ else }}{{ else }}{{ end }}",
            "else after else in {{ else }}",
        ),
        (
            "{{ if .ModelPath }}{{ else }}{{ else if .HFModelName }}{{ end }}",
            "else after else in {{ else if .HFModelName }}",
        ),
        ("{{ if }}{{ end }}", "missing condition in {{ if }}"),
        ("{{ if .ModelPath }}{{ else if }}{{ end }}", "missing condition in {{ else if }}"),
        (
            "{{ if .ModelPath }}{{ end .ModelPath }}",
            "unexpected arguments after end in {{ end .ModelPath }}",
        ),
        (
            "{{ if .ModelPath }}{{ else .ModelPath }}{{ end }}",
            "unexpected arguments after else in {{ else .ModelPath }}",
        ),
    ],
)
def test_error_messages(text: str, message: str) -> None:
    err = error(text)
    assert err.message == message
    assert str(err) == message


@pytest.mark.parametrize("keyword", ["range", "with", "define", "template", "block", "break"])
def test_unsupported_keywords(keyword: str) -> None:
    err = error(f"{{{{ {keyword} .ModelName }}}}x{{{{ end }}}}")
    assert err.message == (
        f'unsupported keyword "{keyword}" in {{{{ {keyword} .ModelName }}}};'
        " only if, else if, else and end are supported"
    )
    assert err.action == f"{{{{ {keyword} .ModelName }}}}"


def test_else_with_is_unsupported() -> None:
    err = error("{{ if .ModelPath }}{{ else with .HFModelName }}{{ end }}")
    assert err.message == (
        'unsupported keyword "with" in {{ else with .HFModelName }};'
        " only if, else if, else and end are supported"
    )


def test_error_action_is_the_offending_one() -> None:
    err = error('{{ .ModelName }} and {{ printf "%d" .ModelPath }} and {{ .ModelPath }}')
    assert err.action == '{{ printf "%d" .ModelPath }}'
    assert err.message == 'printf: %d needs an integer, got string in {{ printf "%d" .ModelPath }}'


def test_long_actions_are_shortened_in_the_message_only() -> None:
    action = "{{ foo " + '"x" ' * 100 + "}}"
    err = error(action)
    assert err.action == action
    assert err.message == 'unknown function "foo" in ' + action[:200] + "..."


def test_error_has_default_empty_action() -> None:
    err = TemplateError("boom")
    assert err.message == "boom"
    assert err.action == ""
    assert str(err) == "boom"


# --- sandbox ---------------------------------------------------------------------------


def test_no_attribute_access() -> None:
    assert error("{{ .ModelName.__class__ }}").message == (
        "unsupported nested field .ModelName.__class__ in {{ .ModelName.__class__ }};"
        " only single names like .ModelName are supported"
    )
    assert error("{{ .__class__ }}").message == (
        f"unknown variable .__class__ in {{{{ .__class__ }}}}; known variables: {KNOWN}"
    )
    assert error("{{ getPort.__globals__ }}").message == (
        "unsupported field access .__globals__ on a value in {{ getPort.__globals__ }}"
    )
    assert error('{{ ("a").__class__ }}').message == (
        'unsupported field access .__class__ on a value in {{ ("a").__class__ }}'
    )
    assert error("{{ __import__ }}").message == 'unknown function "__import__" in {{ __import__ }}'
    assert error('{{ .ModelName["x"] }}').message == (
        "unexpected character '[' in {{ .ModelName[\"x\"] }}"
    )


def test_nesting_is_bounded() -> None:
    ok = "{{ " + "(" * 32 + ".ModelName" + ")" * 32 + " }}"
    assert r(ok) == "Qwen/Qwen2.5-7B"
    deep = "{{ " + "(" * 33 + ".ModelName" + ")" * 33 + " }}"
    assert error(deep).message == f"nesting deeper than 32 levels in {deep}"
    huge = "{{ " + "(" * 100_000 + ".ModelName" + ")" * 100_000 + " }}"
    assert error(huge).message.startswith("nesting deeper than 32 levels in {{ ((((")


def test_pipeline_and_call_nesting_is_bounded() -> None:
    ok = "{{ .ModelName" + " | lower" * 32 + " }}"
    assert r(ok) == "qwen/qwen2.5-7b"
    deep = "{{ .ModelName" + " | lower" * 33 + " }}"
    assert error(deep).message.startswith("nesting deeper than 32 levels in {{ .ModelName | lower")
    calls = "{{ " + "lower (" * 31 + "lower .ModelName" + ")" * 31 + " }}"
    assert r(calls) == "qwen/qwen2.5-7b"
    calls = "{{ " + "lower (" * 32 + "lower .ModelName" + ")" * 32 + " }}"
    assert error(calls).message == f"nesting deeper than 32 levels in {calls[:200]}..."


def test_if_nesting_is_bounded_and_the_maximum_renders() -> None:
    # The deepest expression inside the deepest if: jinja2 must still compile it.
    deepest = ".ModelName" + " | lower" * 32
    ok = (
        "{{ if .ModelPath }}" * 31 + f"{{{{ if {deepest} }}}}{{{{ {deepest} }}}}" + "{{ end }}" * 32
    )
    assert r(ok) == "qwen/qwen2.5-7b"
    deep = "{{ if .ModelPath }}" * 33 + "x" + "{{ end }}" * 33
    assert error(deep).message == "nesting deeper than 32 levels in {{ if .ModelPath }}"


def test_template_size_is_bounded_when_jinja2_compiles_it() -> None:
    action = "{{ lower .ModelServiceName }}"
    assert r(action * 500) == "qwen-svc" * 500
    err = error(action * 501)
    assert (err.message, err.action) == ("too many actions in one string: more than 500", "")
    assert r("{{ print" + ' "a"' * 1999 + " }}") == "a" * 1999
    err = error("{{ print" + ' "a"' * 2000 + " }}")
    assert (err.message, err.action) == ("too many operands in one string: more than 2000", "")


def test_plain_substitution_is_not_size_bounded() -> None:
    assert r("{{ .ModelServiceName }}" * 2000) == "qwen-svc" * 2000
    assert r('{{"{{"}}' * 2000) == "{{" * 2000


def test_output_is_capped() -> None:
    block = '{{ printf "%4096s" "" }}'
    assert r(block * 16) == " " * MAX_OUTPUT
    err = error(block * 17)
    assert err.message == f"rendered output exceeds 65536 bytes in {block}"
    assert err.action == block


def test_output_cap_counts_text_and_utf8_bytes() -> None:
    big = {**PVC_VARS, "ModelName": "é" * (MAX_OUTPUT // 2)}
    assert r("{{ .ModelName }}", big) == big["ModelName"]
    err = error("{{ .ModelName }}x", big)
    assert err.message == "rendered output exceeds 65536 bytes"
    assert err.action == ""
    err = error("{{ .ModelName }}{{ .ModelName }}", {**PVC_VARS, "ModelName": "x" * 40000})
    assert err.message == "rendered output exceeds 65536 bytes in {{ .ModelName }}"


def test_function_output_is_capped() -> None:
    big = {**PVC_VARS, "ModelName": "x" * 40000}
    assert error("{{ print .ModelName .ModelName }}", big).message == (
        "output of print exceeds 65536 bytes in {{ print .ModelName .ModelName }}"
    )
    text = '{{ replace "" "xxxxxxxxxx" (printf "%4096s" "") }}'
    assert len(r(text)) == 4097 * 10 + 4096
    bomb = '{{ replace "" (printf "%4096s" "") (printf "%4096s" "") }}'
    assert error(bomb).message == f"output of replace exceeds 65536 bytes in {bomb}"
    many = '{{ printf "' + "%4096s" * 17 + '"' + ' ""' * 17 + " }}"
    assert error(many).message.startswith("output of printf exceeds 65536 bytes in {{ printf")
    quoted = "{{ quote .ModelName }}"
    assert error(quoted, {**PVC_VARS, "ModelName": "\x00" * 20000}).message == (
        f"output of quote exceeds 65536 bytes in {quoted}"
    )


def test_jinja_syntax_in_text_is_literal() -> None:
    text = "{% for x in range(10**9) %}{{ lower .ModelServiceName }}{% endfor %}{# c #}"
    assert r(text) == "{% for x in range(10**9) %}qwen-svc{% endfor %}{# c #}"
    text = "{{ .ModelServiceName }}{% raw %}{{ 7*7 }}{% endraw %}"
    # The second "{{" is a Go action again, and "7*7" is not Go.
    assert error(text).message == "unexpected character '*' in {{ 7*7 }}"


def test_jinja_syntax_in_literals_is_literal() -> None:
    assert r('{{ "{%" }}') == "{%"
    assert r('{{ print "{%" }}') == "{%"
    assert r('{{ print "{% for x in range(10**9) %}{{ x }}{% endfor %}" }}') == (
        "{% for x in range(10**9) %}{{ x }}{% endfor %}"
    )
    assert r("{{ print \"' ~ 7*7 ~ '\" }}") == "' ~ 7*7 ~ '"
    assert r('{{ print "\\\\U00000041" }}') == "\\U00000041"
    assert r("{{ print \"' }}{{ 7*7 }}{{ '\" }}") == "' }}{{ 7*7 }}{{ '"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=50))
def test_any_string_literal_round_trips(s: str) -> None:
    go_literal = '"' + "".join(f"\\U{ord(c):08x}" for c in s) + '"'
    assert r(f"{{{{ print {go_literal} }}}}") == s
    assert r(f"{{{{ {go_literal} }}}}") == s


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=50).filter(lambda s: "{{" not in s and not s.endswith("{")))
def test_any_surrounding_text_round_trips(s: str) -> None:
    assert r(s + "{{ lower .ModelServiceName }}" + s) == s + "qwen-svc" + s
    assert r(s + "{{ .ModelServiceName }}") == s + "qwen-svc"


PIECES = [
    "{{",
    "}}",
    "{{-",
    " -}}",
    " ",
    "\n",
    "(",
    ")",
    "|",
    '"',
    "`",
    "\\",
    ".ModelName",
    ".Nope",
    ".A.B",
    "$x",
    "if",
    "else",
    "end",
    "range",
    "lower",
    "printf",
    "print",
    "default",
    "getPort",
    "eq",
    '"%5d"',
    '"a"',
    "3",
    "-1.5",
    "true",
    "/*",
    "*/",
    "{%",
    "%}",
    "x",
]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=30).map("".join))
def test_arbitrary_input_renders_or_raises_template_error(text: str) -> None:
    try:
        result = r(text)
    except TemplateError as err:
        assert err.message
    else:
        assert isinstance(result, str)


def test_jinja2_escaping_and_globals_are_out_of_reach() -> None:
    # lower runs in jinja2, which must not HTML-escape what it prints.
    assert r("{{ lower \"<A HREF='x'>&amp;\" }}") == "<a href='x'>&amp;"
    for name in ("dict", "cycler", "joiner", "namespace"):
        action = f"{{{{ {name} }}}}"
        assert error(action).message == f'unknown function "{name}" in {action}'


# --- start-up cost ---------------------------------------------------------------------


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_plain_substitution_does_not_import_jinja2() -> None:
    code = """
        import sys
        from krmfn.gotemplate import render
        v = {"ModelPath": "hub/qwen", "HFModelName": ""}
        assert render("{{ .ModelPath }}", v, {}) == "hub/qwen"
        assert render("a {{- .ModelPath -}} b", v, {}) == "ahub/qwenb"
        assert render("--port=8000", v, {}) == "--port=8000"
        assert render('{{"{{"}} x {{"}}"}}{{/* c */}}', v, {}) == "{{ x }}"
        print("jinja2" in sys.modules)
        assert render("{{ lower .ModelPath }}", v, {}) == "hub/qwen"
        print("jinja2" in sys.modules)
    """
    assert _run(code).split() == ["False", "True"]
