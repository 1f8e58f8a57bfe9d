#!/usr/bin/env python3
"""Prints every es_remote_* metric name that the alert rules and dashboards query.

One name a line, sorted, each once, exactly as written in the queries. Only PromQL is read: the
`expr:` of each rule and the queries of each dashboard (panel targets and variables), so a name
mentioned in a comment or an annotation does not count. A test can compare the list with the
names the exporter emits.

Usage: metric_names.py [FILE...]   (default: alerts/*.rules.yml and dashboards/*.json)
Standard library only, so the rules file is read by indentation, not by a YAML parser.
"""

import glob
import json
import os
import re
import sys

METRIC = re.compile(r"(?<![\w:])es_remote_[a-zA-Z0-9_]*(?![\w:])")

# A rule's `expr:` key, with an inline value or a block scalar indicator (| or >).
EXPR_KEY = re.compile(r"^(\s*)(?:-\s+)?expr:\s*(.*)$")


def main(paths):
    if not paths:
        root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
        paths = sorted(glob.glob(os.path.join(root, "alerts", "*.rules.yml")) +
                       glob.glob(os.path.join(root, "dashboards", "*.json")))
    names = set()
    for path in paths:
        with open(path, encoding="utf-8") as file:
            text = file.read()
        queries = dashboard_queries(text) if path.endswith(".json") else rule_expressions(text)
        for query in queries:
            names.update(METRIC.findall(strip_strings_and_comments(query)))
    for name in sorted(names):
        print(name)
    return 0


def rule_expressions(text):
    """Yields the expression of each rule in a Prometheus rules file."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        match = EXPR_KEY.match(lines[index])
        index += 1
        if not match:
            continue
        value = match.group(2).strip()
        if value and value[0] not in "|>":
            yield unquote(value)
            continue
        # Block scalar: every following line indented deeper than the key, or blank.
        key_indent = len(match.group(1))
        block = []
        while index < len(lines) and (not lines[index].strip()
                                      or indent(lines[index]) > key_indent):
            block.append(lines[index])
            index += 1
        yield "\n".join(block)


def dashboard_queries(text):
    dashboard = json.loads(text)
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if variable.get("type") == "query" and isinstance(query, str):
            yield query
    stack = list(dashboard.get("panels", []))
    while stack:
        panel = stack.pop()
        stack.extend(panel.get("panels", []))
        for target in panel.get("targets", []):
            if isinstance(target.get("expr"), str):
                yield target["expr"]


def strip_strings_and_comments(query):
    """Label values such as job="es_remote_x" are not metric names; neither are comments."""
    return re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`|#[^\n]*', " ", query)


def unquote(value):
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def indent(line):
    return len(line) - len(line.lstrip(" "))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
