"""Message text with a natural word distribution: pseudo-words drawn by Zipf's law, so a few
words are in most messages and most words in a handful (real chat has the same long tail).

Words are consonant-vowel syllables ending in a, o or u: no English stop word, and no suffix
either stemmer (PostgreSQL's english, OpenSearch's snowball) strips, so both count the same
words.
"""

from __future__ import annotations

import itertools
import random

_CONSONANTS = "bdfgklmnprtvz"
_VOWELS = "aou"
_SYLLABLES = [c + v for c in _CONSONANTS for v in _VOWELS]


class Corpus:
    def __init__(self, *, words: int = 20_000, exponent: float = 1.1, seed: int = 7) -> None:
        rng = random.Random(seed)
        made: dict[str, None] = {}
        while len(made) < words:
            made["".join(rng.choices(_SYLLABLES, k=rng.choice((2, 3, 3, 4))))] = None
        self.words = list(made)  # rank order: words[0] is the most frequent
        self._cumulative = list(
            itertools.accumulate(1 / (rank**exponent) for rank in range(1, words + 1))
        )

    def text(self, rng: random.Random, *, low: int = 6, high: int = 12) -> str:
        count = rng.randint(low, high)
        return " ".join(rng.choices(self.words, cum_weights=self._cumulative, k=count))

    def share_of_messages(self, rank: int, *, words_per_message: float = 9.0) -> float:
        """The expected share of messages containing the word of this rank (0-based)."""
        chance = (self._cumulative[rank] - (self._cumulative[rank - 1] if rank else 0)) / (
            self._cumulative[-1]
        )
        return 1 - (1 - chance) ** words_per_message
