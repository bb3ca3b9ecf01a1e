"""Readable generated run names such as ``brave-owl-042``."""

from __future__ import annotations

import secrets

_ADJECTIVES = (
    "amber agile bold brave bright calm clever crisp daring eager fancy gentle glad grand happy "
    "honest jolly keen kind lively lucky merry mighty neat noble polite proud quick quiet rapid "
    "silent sleek smart steady sunny swift tidy vivid warm wise witty zesty"
).split()
_NOUNS = (
    "ant bat bear bee bison cat crane crow deer dove eagle eel elk falcon finch fox frog gull "
    "hare hawk heron ibis jay koala lark lion lynx mole moose newt owl otter panda puma quail "
    "ram raven robin seal shark slug snail swan tiger toad trout wasp whale wolf wren yak"
).split()


def generate_run_name() -> str:
    adjective = secrets.choice(_ADJECTIVES)
    noun = secrets.choice(_NOUNS)
    return f"{adjective}-{noun}-{secrets.randbelow(1000):03d}"
