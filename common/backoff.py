"""Exponential backoff with full jitter, for everything that tries again (jobs, webhooks)."""

import random


def full_jitter_s(*, retry: int, base_s: float, cap_s: float) -> float:
    """Seconds to wait before retry number `retry` (1 for the first): uniform in
    [0, min(cap_s, base_s * 2 ** (retry - 1))], so that many failing at once spread out."""
    return random.uniform(0, min(cap_s, base_s * 2 ** (retry - 1)))
