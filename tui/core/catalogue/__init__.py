"""The model catalogue: ``catalogue.yaml`` (shipped in this folder) -> typed, validated objects.

``schema`` holds the objects, ``loader`` reads and validates the YAML (errors name file, line and
field), ``cache`` keeps the validated catalogue as JSON between starts, ``browse`` filters and sorts
it. ``llm-catalogue.md`` beside them is the page the catalogue was built from.
"""

from tui.core.catalogue.loader import default_catalogue_path, load_catalogue
from tui.core.catalogue.schema import (
    KINDS,
    Catalogue,
    CatalogueError,
    GgufRef,
    GgufSource,
    Group,
    Leaderboard,
    LeaderboardRow,
    LinkedLeaderboard,
    Metric,
    Model,
    Source,
    Summary,
)

__all__ = [
    "KINDS",
    "Catalogue",
    "CatalogueError",
    "GgufRef",
    "GgufSource",
    "Group",
    "Leaderboard",
    "LeaderboardRow",
    "LinkedLeaderboard",
    "Metric",
    "Model",
    "Source",
    "Summary",
    "default_catalogue_path",
    "load_catalogue",
]
