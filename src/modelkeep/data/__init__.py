"""Data before training: read, profile, flag problems, validate against rules.

```python
from modelkeep.data import profile, validate, suggest_rules

report = profile("train.csv", target="churned")  # statistics, class balance, problems
print(report.to_json())
rules = suggest_rules(report)                     # a RuleSet the data passes; edit as YAML
assert validate("new.csv", rules).passed
```

Modules: :mod:`~modelkeep.data.io` (reading tables), :mod:`~modelkeep.data.profile` (with
:mod:`~modelkeep.data.profile_render` for Rich and HTML), :mod:`~modelkeep.data.problems`
(and :mod:`~modelkeep.data.leakage` behind its ``target_leakage`` check),
:mod:`~modelkeep.data.kinds` (column kinds), :mod:`~modelkeep.data.rules` (validation) and
:mod:`~modelkeep.data.cleaning` (scikit-learn transformers).
"""

from __future__ import annotations

from modelkeep.data.io import read_table
from modelkeep.data.problems import Problem, find_problems
from modelkeep.data.profile import ColumnProfile, Profile, profile
from modelkeep.data.rules import RuleFailure, RuleSet, ValidationReport, suggest_rules, validate

__all__ = [
    "ColumnProfile",
    "Problem",
    "Profile",
    "RuleFailure",
    "RuleSet",
    "ValidationReport",
    "find_problems",
    "profile",
    "read_table",
    "suggest_rules",
    "validate",
]
