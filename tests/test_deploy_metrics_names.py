"""Every metric the dashboard and the Prometheus rules use is one acd exports, with its labels.

The checker is reusable against a running acd: ``exported_metric_names(text)`` and
``exported_series(text)`` read a text exposition (the body of ``GET /metrics``), and
``names_used_in(expr)`` / ``selectors_in(expr)`` read a PromQL expression.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from acd.domain.model import AgentState, Outcome
from acd.metrics import Metrics

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULE_FILES = (PROMETHEUS / "recording.yml", PROMETHEUS / "alerts.yml")
RULE_TESTS = PROMETHEUS / "alerts_test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "acd.json"

# Labels Prometheus itself attaches to every scraped series.
TARGET_LABELS = frozenset({"job", "instance"})
# Label values that come from acd's domain, so a typo such as state="loggedout" is caught.
DOMAIN_LABEL_VALUES = {
    "state": {s.value for s in AgentState},
    "outcome": {o.value for o in Outcome},
}
# Sample-name suffixes each metric type adds to its family name.
SUFFIXES_BY_TYPE = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}


# --- the exposition side ---------------------------------------------------------------------


def exported_series(text_exposition: str) -> dict[str, dict[str, set[str]]]:
    """Sample name -> label name -> the values seen, for every sample in the exposition."""
    series: dict[str, dict[str, set[str]]] = {}
    for family in text_string_to_metric_families(text_exposition):
        for sample in family.samples:
            labels = series.setdefault(sample.name, {})
            for name, value in sample.labels.items():
                labels.setdefault(name, set()).add(value)
    return series


def exported_metric_names(text_exposition: str) -> set[str]:
    """Every sample name the exposition holds or announces.

    A labelled metric that has not been used yet has a ``# TYPE`` line but no samples: its
    names are derived from the type (a counter ``x`` exports ``x_total`` and ``x_created``, a
    histogram ``x_bucket``, ``x_count``, ``x_sum``, ``x_created``).
    """
    names: set[str] = set()
    for family in text_string_to_metric_families(text_exposition):
        names.update(sample.name for sample in family.samples)
        if not family.samples:
            suffixes = SUFFIXES_BY_TYPE.get(family.type, ("",))
            names.update(family.name + suffix for suffix in suffixes)
    return names


def acd_exposition() -> str:
    """acd's /metrics body with one child of every labelled metric, so labels are visible."""
    metrics = Metrics()
    for metric in vars(metrics).values():
        if isinstance(metric, MetricWrapperBase) and metric._labelnames:
            metric.labels(*("x" for _ in metric._labelnames))
    return generate_latest(metrics.registry).decode()


# --- the PromQL side -------------------------------------------------------------------------

KEYWORDS = frozenset(
    {
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "offset",
        "and",
        "or",
        "unless",
        "atan2",
        "inf",
        "nan",
    }
)
GROUPING = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
# Aggregations may be followed by "by (...)" instead of "(": never a metric name.
AGGREGATIONS = frozenset(
    {
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "limitk",
        "limit_ratio",
    }
)
_TOKEN = re.compile(
    r"""\s+|\#[^\n]*
    |(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
    |(?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
    |(?P<var>\$\{?[A-Za-z_][A-Za-z0-9_]*\}?)
    |(?P<number>[0-9](?:[eE][+-][0-9]|[0-9a-zA-Z_.])*|\.[0-9]+)
    |(?P<op>=~|!~|!=|==|<=|>=|[-+*/%^<>=,(){}\[\]@])""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Matcher:
    """One label matcher of a selector: ``label op "value"``."""

    label: str
    op: str
    value: str


@dataclass
class Selector:
    """A vector selector: a metric name (or None) and its label matchers."""

    name: str | None
    matchers: list[Matcher] = field(default_factory=list)


@dataclass
class ParsedExpr:
    """What one PromQL expression selects and which labels it groups or matches on."""

    selectors: list[Selector]
    grouping_labels: set[str]


def _tokens(expr: str) -> list[tuple[str, str]]:
    tokens = []
    position = 0
    while position < len(expr):
        match = _TOKEN.match(expr, position)
        if match is None:
            raise ValueError(f"cannot read PromQL at {expr[position : position + 20]!r}")
        position = match.end()
        if match.lastgroup is not None:
            tokens.append((match.lastgroup, match.group()))
    return tokens


def _unquote(literal: str) -> str:
    if literal.startswith("`"):
        return literal[1:-1]
    body = literal[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


Tokens = list[tuple[str, str]]


def _skip_to(tokens: Tokens, i: int, closing: str) -> int:
    while tokens[i][1] != closing:
        i += 1
    return i


def _grouping(tokens: Tokens, i: int, grouping: set[str]) -> int:
    """Read ``by (a, b)`` / ``without (...)`` from the ``(`` at ``i``; the index of ``)``."""
    while tokens[i][1] != ")":
        if tokens[i][0] == "ident":
            grouping.add(tokens[i][1])
        i += 1
    return i


def _selector(tokens: Tokens, i: int) -> tuple[Selector, int]:
    """The selector starting at ``i`` (a name, a ``{``, or a name then ``{``); the index of
    its last token."""
    kind, text = tokens[i]
    selector = Selector(text if kind == "ident" else None)
    if kind == "ident" and i + 1 < len(tokens) and tokens[i + 1][1] == "{":
        i += 1
    if tokens[i][1] == "{":
        i += 1
        while tokens[i][1] != "}":
            if tokens[i][1] == ",":
                i += 1
                continue
            label, op, value = tokens[i][1], tokens[i + 1][1], tokens[i + 2][1]
            selector.matchers.append(Matcher(label, op, _unquote(value)))
            i += 3
    return selector, i


def parse_promql(expr: str) -> ParsedExpr:
    """Selectors and grouping labels of ``expr``: enough PromQL to check names and labels."""
    tokens = _tokens(expr)
    selectors: list[Selector] = []
    grouping: set[str] = set()
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        following = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if kind == "op" and text == "[":
            i = _skip_to(tokens, i, "]")  # a range or subquery: durations, not metrics
        elif kind == "ident" and text.lower() in GROUPING:
            if following == "(":
                i = _grouping(tokens, i + 2, grouping)
        elif kind == "ident" and (text.lower() in KEYWORDS | AGGREGATIONS or following == "("):
            pass  # a keyword, a function or an aggregation
        elif kind == "ident" or (kind == "op" and text == "{"):
            selector, i = _selector(tokens, i)
            selectors.append(selector)
        i += 1
    return ParsedExpr(selectors, grouping)


def selectors_in(expr: str) -> list[Selector]:
    """The vector selectors of ``expr``."""
    return parse_promql(expr).selectors


def names_used_in(expr: str) -> set[str]:
    """Metric names of acd (``acd_...``) and of its recording rules (``acd:...``) in ``expr``."""
    return {s.name for s in selectors_in(expr) if s.name and s.name.startswith(("acd_", "acd:"))}


# --- reading the rule files without a YAML dependency ----------------------------------------


def yaml_scalars(text: str, key: str) -> list[str]:
    """The values of every ``key:`` in a YAML file written as the rule files are: plain or
    quoted one-line scalars, or ``|``/``>`` block scalars. Cross-checked against a real YAML
    parser by ``test_rule_file_reader_agrees_with_a_yaml_parser`` when one is installed."""
    values = []
    lines = text.splitlines()
    pattern = re.compile(rf"^(\s*)(?:- )?{re.escape(key)}:\s*(.*?)\s*$")
    for index, line in enumerate(lines):
        match = pattern.match(line)
        if match is None:
            continue
        indent, value = len(match.group(1)), match.group(2)
        if value[:1] in "|>":
            block = []
            for following in lines[index + 1 :]:
                if following.strip() and len(following) - len(following.lstrip()) <= indent:
                    break
                block.append(following.strip())
            values.append("\n".join(block).strip())
        elif value.startswith("'"):
            values.append(value[1:-1].replace("''", "'"))
        elif value.startswith('"'):
            values.append(json.loads(value))
        else:
            values.append(value.split(" #", 1)[0].rstrip())
    return values


def load_yaml(path: Path) -> Any:
    """Parse ``path`` with PyYAML, or with the ``yq`` command; skip the test if neither exists."""
    try:
        import yaml
    except ImportError:
        yq = shutil.which("yq")
        if yq is None:
            pytest.skip("no YAML parser: neither PyYAML nor the yq command is installed")
        version = subprocess.run([yq, "--version"], capture_output=True, text=True, check=False)
        if "mikefarah" in version.stdout + version.stderr:
            command = [yq, "-o=json", ".", str(path)]
        else:  # the jq wrapper (Debian's yq package)
            command = [yq, ".", str(path)]
        out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=30)
        return json.loads(out.stdout)
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rule_exprs() -> dict[str, str]:
    """Rule name (recording name or alert name) -> its expression, from both rule files."""
    rules: dict[str, str] = {}
    for path in RULE_FILES:
        text = path.read_text(encoding="utf-8")
        # Each rule starts at "- record:" or "- alert:" and holds one expr.
        for chunk in re.split(r"\n(?=[ \t]*- (?:record|alert):)", text)[1:]:
            name = (yaml_scalars(chunk, "record") + yaml_scalars(chunk, "alert"))[0]
            (expr,) = yaml_scalars(chunk, "expr")
            assert name not in rules, f"{path.name}: {name} defined twice"
            rules[name] = expr
    return rules


def dashboard_exprs() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every query of the dashboard, rows included."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    found: list[tuple[str, str]] = []
    stack = list(dashboard["panels"])
    while stack:
        panel = stack.pop()
        stack.extend(panel.get("panels", []))
        found.extend((panel["title"], t["expr"]) for t in panel.get("targets", []))
    return found


def dashboard_variable_values(name: str) -> list[str]:
    """The values a custom dashboard variable may take."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    for variable in dashboard["templating"]["list"]:
        if variable["name"] == name:
            return [option["value"] for option in variable["options"]]
    raise KeyError(name)


# --- checking --------------------------------------------------------------------------------


def problems_in(
    expr: str,
    series: dict[str, dict[str, set[str]]],
    names: set[str],
    recorded: dict[str, set[str]],
    variables: dict[str, list[str]] | None = None,
) -> list[str]:
    """What is wrong with ``expr`` against acd's exposition: unknown metric names, labels the
    metric does not carry, bucket bounds or domain values that do not exist."""
    parsed = parse_promql(expr)
    found: list[str] = []
    known_labels: set[str] = set(TARGET_LABELS)
    for selector in parsed.selectors:
        name = selector.name
        if name is None or not name.startswith(("acd_", "acd:")):
            continue
        if name.startswith("acd:"):
            if name not in recorded:
                found.append(f"{name}: no recording rule defines it")
                continue
            labels: set[str] | None = recorded[name]
        elif name not in names:
            found.append(f"{name}: acd exports no such sample")
            continue
        else:
            labels = set(series[name]) if name in series else None
        if labels is None:
            continue
        known_labels |= labels
        for matcher in selector.matchers:
            if matcher.label not in labels | TARGET_LABELS:
                found.append(f"{name}: has no label {matcher.label!r}")
                continue
            found.extend(_value_problems(name, matcher, series, variables or {}))
    for label in parsed.grouping_labels - known_labels - {"le"}:
        found.append(f"groups or matches on {label!r}, which no metric of the expression has")
    return found


def _value_problems(
    name: str,
    matcher: Matcher,
    series: dict[str, dict[str, set[str]]],
    variables: dict[str, list[str]],
) -> list[str]:
    if matcher.op not in ("=", "!="):
        return []  # regular expressions: "$queue" and friends
    values = [matcher.value]
    variable = re.fullmatch(r"\$\{?(\w+)\}?", matcher.value)
    if variable:
        values = variables.get(variable.group(1), [])
    elif "$" in matcher.value:
        return []
    if matcher.label == "le":
        allowed = series.get(name, {}).get("le", set())
    elif matcher.label in DOMAIN_LABEL_VALUES:
        allowed = DOMAIN_LABEL_VALUES[matcher.label]
    else:
        return []
    return [
        f"{name}: {matcher.label}={v!r} is not one of {sorted(allowed)}"
        for v in values
        if v not in allowed
    ]


def recorded_labels(rules: dict[str, str]) -> dict[str, set[str]]:
    """Recording rule name -> the labels its result carries: those it aggregates by, and
    those of the recording rules it is computed from (rules are evaluated in file order)."""
    labels: dict[str, set[str]] = {}
    for name, expr in rules.items():
        if ":" not in name:
            continue
        parsed = parse_promql(expr)
        inherited = [labels.get(s.name, set()) for s in parsed.selectors if s.name in labels]
        labels[name] = (parsed.grouping_labels - {"le"}).union(*inherited)
    return labels


@pytest.fixture(scope="module")
def exposition() -> str:
    return acd_exposition()


@pytest.fixture(scope="module")
def series(exposition: str) -> dict[str, dict[str, set[str]]]:
    return exported_series(exposition)


@pytest.fixture(scope="module")
def names(exposition: str) -> set[str]:
    return exported_metric_names(exposition)


# --- the checker itself ----------------------------------------------------------------------


def test_checker_knows_the_suffix_each_metric_type_exports(names: set[str]) -> None:
    assert {
        "acd_calls_offered_total",
        "acd_wait_seconds_bucket",
        "acd_wait_seconds_sum",
        "acd_wait_seconds_count",
        "acd_queue_waiting",
        "acd_ami_connected",
    } <= names
    # A counter is not exported under its bare name, a gauge gets no _total, a histogram no
    # bare name: each would be a silently empty panel.
    assert not {"acd_calls_offered", "acd_queue_waiting_total", "acd_wait_seconds"} & names


def test_names_of_unused_labelled_metrics_come_from_their_type() -> None:
    fresh = generate_latest(Metrics().registry).decode()  # no labelled child exists yet
    assert exported_series(fresh).get("acd_calls_offered_total") is None
    assert exported_metric_names(fresh) == exported_metric_names(acd_exposition())


def test_exposition_names_match_the_registry_collect(names: set[str]) -> None:
    from_registry: set[str] = set()
    for family in Metrics().registry.collect():
        suffixes = SUFFIXES_BY_TYPE.get(family.type, ("",))
        from_registry.update(family.name + s for s in suffixes)
    assert from_registry == names


def test_parser_finds_names_labels_and_grouping() -> None:
    expr = (
        'sum by (queue) (rate(acd_wait_seconds_bucket{outcome="answered", le="20.0"}'
        "[$__rate_interval])) / on (queue) group_left acd:calls_offered:rate5m"
        ' unless up{job="acd"} offset 5m'
    )
    parsed = parse_promql(expr)
    assert names_used_in(expr) == {"acd_wait_seconds_bucket", "acd:calls_offered:rate5m"}
    assert [s.name for s in parsed.selectors] == [
        "acd_wait_seconds_bucket",
        "acd:calls_offered:rate5m",
        "up",
    ]
    assert parsed.selectors[0].matchers == [
        Matcher("outcome", "=", "answered"),
        Matcher("le", "=", "20.0"),
    ]
    assert parsed.grouping_labels == {"queue"}


def test_checker_rejects_what_acd_does_not_export(
    series: dict[str, dict[str, set[str]]],
    names: set[str],
) -> None:
    def check(expr: str) -> list[str]:
        return problems_in(expr, series, names, {"acd:known:rate5m": {"queue"}})

    assert check('acd_queue_waiting{queue="sales"}') == []
    assert check("acd_calls_offered") == ["acd_calls_offered: acd exports no such sample"]
    assert check('acd_queue_waiting{team="a"}') == ["acd_queue_waiting: has no label 'team'"]
    assert check('acd_wait_seconds_bucket{le="20"}')[0].startswith(
        "acd_wait_seconds_bucket: le='20' is not one of"
    )
    assert check('acd_agents{state="loggedout"}')[0].startswith(
        "acd_agents: state='loggedout' is not one of"
    )
    assert check('acd_agents{state!="loggedout"}')[0].startswith(
        "acd_agents: state='loggedout' is not one of"
    )
    assert check("sum by (team) (acd_queue_waiting)") == [
        "groups or matches on 'team', which no metric of the expression has"
    ]
    assert check("acd:unknown:rate5m") == ["acd:unknown:rate5m: no recording rule defines it"]
    assert check('acd:known:rate5m{step="x"}') == ["acd:known:rate5m: has no label 'step'"]


# --- the deploy files ------------------------------------------------------------------------


def test_rule_files_use_only_metrics_acd_exports(
    series: dict[str, dict[str, set[str]]],
    names: set[str],
) -> None:
    rules = rule_exprs()
    assert len(rules) >= 16, sorted(rules)
    recorded = recorded_labels(rules)
    failures = {n: p for n, e in rules.items() if (p := problems_in(e, series, names, recorded))}
    assert failures == {}
    assert [n for n, e in rules.items() if not selectors_in(e)] == []
    used = set().union(*(names_used_in(e) for e in rules.values()))
    assert {
        "acd_wait_seconds_bucket",
        "acd_calls_offered_total",
        "acd_queue_waiting",
        "acd_agents",
        "acd_queue_oldest_wait_seconds",
        "acd_ami_connected",
        "acd_redis_errors_total",
        "acd_routing_decision_seconds_bucket",
    } <= used


def test_rule_unit_tests_feed_series_acd_exports(
    series: dict[str, dict[str, set[str]]],
    names: set[str],
) -> None:
    text = RULE_TESTS.read_text(encoding="utf-8")
    checked = yaml_scalars(text, "series") + yaml_scalars(text, "expr")
    checked += yaml_scalars(text, "labels")  # the expected samples of promql_expr_test
    assert len(checked) >= 20
    recorded = recorded_labels(rule_exprs())
    failures = {s: p for s in checked if (p := problems_in(s, series, names, recorded))}
    assert failures == {}


def test_dashboard_uses_only_metrics_acd_exports(
    series: dict[str, dict[str, set[str]]],
    names: set[str],
) -> None:
    queries = dashboard_exprs()
    assert len(queries) >= 20
    variables = {"sl_threshold": dashboard_variable_values("sl_threshold")}
    failures = {
        f"{title}: {expr}": problems
        for title, expr in queries
        if (problems := problems_in(expr, series, names, {}, variables))
    }
    assert failures == {}
    assert [title for title, expr in queries if not selectors_in(expr)] == []
    used = set().union(*(names_used_in(e) for _, e in queries))
    assert {
        "acd_first_response_seconds_bucket",
        "acd_team_agents",
        "acd_calls_overflowed_total",
        "acd_event_loop_lag_seconds",
        "acd_redis_latency_seconds_bucket",
        "acd_ami_reconnects_total",
        "acd_ami_events_total",
    } <= used


def test_dashboard_variables_read_labels_acd_exports(
    series: dict[str, dict[str, set[str]]],
) -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queries = [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    assert queries
    for query in queries:
        match = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", query)
        assert match, query
        metric, label = match.groups()
        assert label in series[metric], query


def test_rule_file_reader_agrees_with_a_yaml_parser() -> None:
    for path in (*RULE_FILES, RULE_TESTS):
        parsed = load_yaml(path)
        text = path.read_text(encoding="utf-8")
        if path == RULE_TESTS:
            expected = [s["series"] for t in parsed["tests"] for s in t["input_series"]]
            assert yaml_scalars(text, "series") == expected
            continue
        exprs = [r["expr"] for g in parsed["groups"] for r in g["rules"]]
        assert [" ".join(e.split()) for e in yaml_scalars(text, "expr")] == [
            " ".join(e.split()) for e in exprs
        ]
