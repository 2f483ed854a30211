"""`SplitConfig`, how a zoo's models are divided into train / val / test (`weightspace.tokens
.splits` resolves it on a zoo): light, so ``fit --help`` reads it without numpy or torch."""

from __future__ import annotations

from dataclasses import dataclass, field

from weightspace.errors import ConfigError

SIBLINGS = ("seed", "init")  # a fixed-seed grid's models with these in common start alike


@dataclass(frozen=True)
class SplitConfig:
    """How a zoo's models are divided: shares of (train, val, test), the seed, and the factors
    whose shared values keep models together (``()``: plain split by model id)."""

    fractions: tuple[float, float, float] = field(
        default=(0.7, 0.15, 0.15), metadata={"help": "shares of train, val, test"}
    )
    seed: int = field(default=0, metadata={"help": "seed of the split"})
    group_by: tuple[str, ...] = field(
        default=SIBLINGS,
        metadata={"help": "zoo columns whose shared values keep models together; none = plain"},
    )

    def __post_init__(self) -> None:
        fractions = tuple(float(f) for f in self.fractions)
        if len(fractions) != 3 or min(fractions) < 0 or sum(fractions) <= 0:
            raise ConfigError("fractions", "three non-negative shares of train, val, test", None)
        object.__setattr__(self, "fractions", fractions)
        object.__setattr__(self, "group_by", tuple(self.group_by))
        if not all(isinstance(g, str) and g for g in self.group_by):
            raise ConfigError("group_by", "zoo column names", self.group_by)

    @property
    def kind(self) -> str:
        return "grouped" if self.group_by else "plain"

    def to_dict(self) -> dict:
        return {
            "fractions": list(self.fractions),
            "seed": self.seed,
            "group_by": list(self.group_by),
        }

    @classmethod
    def from_dict(cls, raw: dict) -> SplitConfig:
        return cls(tuple(raw["fractions"]), int(raw["seed"]), tuple(raw.get("group_by", ())))
