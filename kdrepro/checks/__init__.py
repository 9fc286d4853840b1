"""Published numbers (one registry, with sources and settings) and the checks against them."""

from .published import PUBLISHED, Published, get_published, is_published, published_for
from .verdict import FAIL, NOT_COMPARABLE, PASS, Check, check, check_claim, not_measured

__all__ = ["PUBLISHED", "Published", "get_published", "is_published", "published_for", "FAIL", "NOT_COMPARABLE", "PASS",
           "Check", "check", "check_claim", "not_measured"]
