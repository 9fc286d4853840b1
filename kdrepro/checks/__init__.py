"""Published numbers (one registry, with sources and settings) and the checks against them."""

from .published import PUBLISHED, Published, get_published, is_published, published_for
from .verdict import (FAIL, INCONCLUSIVE, NOT_COMPARABLE, PASS, Check, check, check_claim, check_equivalence,
                      check_improvement, check_seeds, not_measured, sampling_noise)

__all__ = ["PUBLISHED", "Published", "get_published", "is_published", "published_for", "FAIL", "NOT_COMPARABLE", "PASS",
           "INCONCLUSIVE", "Check", "check", "check_claim", "check_equivalence", "check_improvement", "check_seeds",
           "not_measured", "sampling_noise"]
