"""The targets of issue 5 as one table: what was measured, the goal, met or not.

Every measurement module returns :class:`Outcome` rows; ``run.py`` gathers them and
prints :func:`target_lines` last.  A target that could not be measured (PyTorch or
scikit-learn missing, a configuration left out) is listed as "not measured", never as met.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    """One target checked at one place.

    `measured` is the ratio (None when it could not be measured); the goal is
    ``measured >= bound`` when `higher_is_better`, else ``measured <= bound``.
    """

    target: str
    where: str
    threads: str
    measured: float
    bound: float
    higher_is_better: bool = True
    note: str = ""
    informative: bool = False  # a variant shown for context, not one of the checks
    # How far past the bound a measurement may land and still count as meeting it: the
    # timing noise, for a goal ("never slower") that noise alone could miss.
    tolerance: float = 0.0

    @property
    def met(self):
        if self.measured is None:
            return None
        if self.higher_is_better:
            return self.measured >= self.bound - self.tolerance
        return self.measured <= self.bound + self.tolerance

    @property
    def goal(self):
        goal = (">= " if self.higher_is_better else "<= ") + f"{self.bound:g}x"
        return goal + (f" (noise {self.tolerance:.0%})" if self.tolerance else "")

    @property
    def status(self):
        status = {True: "met", False: "NOT MET", None: "not measured"}[self.met]
        return f"({status})" if self.informative else status


def step_outcomes(rows, threads):
    """The per-step targets (speed-ups and floor ratios) of a thread table's rows."""
    names = {"reference": "step vs reference", "torch": "step vs PyTorch",
             "floor": "step / its GEMMs alone"}
    out = []
    for row in rows:
        for target in row.config.targets:
            ratio = row.ratio(target.metric)
            note = ""
            if target.metric == "floor":
                note = (f"over NumPy's GEMMs: fastnn {_x(row.ratio('numpy_floor'))}, "
                        f"reference {_x(row.ratio('reference_floor'))}, "
                        f"PyTorch {_x(row.ratio('torch_floor'))}")
            out.append(Outcome(names[target.metric], _where(row.config), str(threads), ratio,
                               target.bound, target.higher_is_better, note))
    return out


def _where(config):
    return f"{config.name} b{config.batch} keep {config.keep_prob:g}"


def _x(ratio):
    return "-" if ratio is None else f"{ratio:.2f}x"


HEADERS = ("target", "where", "threads", "measured", "goal", "status", "note")


def target_cells(outcome):
    return (outcome.target, outcome.where, outcome.threads, _x(outcome.measured),
            outcome.goal, outcome.status, outcome.note)


def summary(outcomes):
    """"N of M targets met (K not measured)"."""
    outcomes = [o for o in outcomes if not o.informative]
    met = sum(o.met is True for o in outcomes)
    missing = sum(o.met is None for o in outcomes)
    text = f"{met} of {len(outcomes)} target checks met"
    return text + (f" ({missing} not measured)" if missing else "")
